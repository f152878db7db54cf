from __future__ import annotations

import tempfile
import unittest

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver
from monai.handlers import CheckpointLoader

from meddisseg_monai.handlers import ResumableCheckpointSaver, ResumableEarlyStopHandler


def _evaluator(scores: list[float]) -> Engine:
    """An engine whose epoch-end metric ``score`` follows ``scores`` (one epoch per run)."""
    evaluator = Engine(lambda engine, batch: None)

    @evaluator.on(Events.EPOCH_COMPLETED)
    def _score(engine):
        engine.state.metrics["score"] = scores[engine.state.epoch - 1]

    return evaluator


class TestResumableHandlers(unittest.TestCase):
    def test_early_stop_state_round_trip(self):
        trainer = Engine(lambda engine, batch: None)
        handler = ResumableEarlyStopHandler(
            patience=3, score_function=lambda e: e.state.metrics["score"], epoch_level=True
        )
        self.assertEqual(handler.state_dict(), {})
        restored = ResumableEarlyStopHandler(patience=3, score_function=lambda e: e.state.metrics["score"])
        handler.set_trainer(trainer)
        evaluator = _evaluator([0.5, 0.4, 0.3])
        handler.attach(evaluator)
        evaluator.run([0], max_epochs=3)
        state = handler.state_dict()
        self.assertEqual((state["counter"], state["best_score"]), (2, 0.5))
        restored.load_state_dict(state)  # before the trainer is set: kept until then
        restored.set_trainer(trainer)
        self.assertEqual(restored.state_dict()["counter"], 2)

    def test_best_checkpoint_tracking_survives_a_restart(self):
        network = torch.nn.Linear(2, 1)
        with tempfile.TemporaryDirectory() as tmp:
            saver = ResumableCheckpointSaver(
                tmp, {"model": network}, save_key_metric=True, key_metric_name="score", key_metric_filename="model.pt"
            )
            evaluator = _evaluator([0.9])
            saver.attach(evaluator)
            evaluator.run([0], max_epochs=1)
            last = Checkpoint(
                {"best": saver},
                DiskSaver(tmp, require_empty=False),
                filename_prefix="last",
                filename_pattern="{filename_prefix}.{ext}",
            )
            last(evaluator)

            torch.nn.init.zeros_(network.weight)
            resumed = ResumableCheckpointSaver(
                tmp, {"model": network}, save_key_metric=True, key_metric_name="score", key_metric_filename="model.pt"
            )
            fresh = _evaluator([0.5])
            CheckpointLoader(f"{tmp}/last.pt", {"best": resumed}).attach(fresh)
            resumed.attach(fresh)
            fresh.run([0], max_epochs=1)
            best = torch.load(f"{tmp}/model.pt", weights_only=True)
            self.assertFalse(torch.all(best["weight"] == 0), "a worse score after the restart overwrote model.pt")


if __name__ == "__main__":
    unittest.main()
