"""The 2D bundle's resolved training configs carry the reference's recipe (METHOD.md "Recipe") by default."""

from __future__ import annotations

import unittest

import pytest
import torch
from ignite.engine import Engine
from monai.bundle import ConfigParser
from monai.engines import SupervisedTrainer
from parameterized import parameterized

from meddisseg_monai.engines import TwoViewTrainer
from meddisseg_monai.handlers import LossTermsHandler, ValidationObjectiveHandler
from meddisseg_monai.losses import MedDisSegLoss
from meddisseg_monai.transforms import RandSourceCoarseDropoutd
from tests.utils import BUNDLE_ROOT, checked_output, prepare_kvasir_run, run_bundle

CONFIGS = BUNDLE_ROOT / "configs"
STAGES = {
    "stage2": ["train.json"],
    "stage1": ["train.json", "train_stage1.json"],
    "stage2_from_scratch": ["train.json", "train_from_scratch.json"],
    "stage1_from_scratch": ["train.json", "train_stage1.json", "train_from_scratch.json"],
    "stage2_one_cycle": ["train.json", "train_from_scratch.json", "train_one_cycle.json"],
    "stage1_one_cycle": ["train.json", "train_stage1.json", "train_from_scratch.json", "train_one_cycle.json"],
}


def parser(stage: str, **overrides) -> ConfigParser:
    p = ConfigParser()
    p.read_config([str(CONFIGS / c) for c in STAGES[stage]])
    p.update({"bundle_root": str(BUNDLE_ROOT), "stage1_model_file": "", **overrides})
    return p


class TestReferenceRecipe(unittest.TestCase):
    @parameterized.expand([["stage2", SupervisedTrainer], ["stage1", TwoViewTrainer]])
    def test_trainer_class(self, stage, expected):
        target = parser(stage).get("train#trainer#_target_")
        self.assertEqual(
            target, "SupervisedTrainer" if expected is SupervisedTrainer else "meddisseg_monai.engines.TwoViewTrainer"
        )
        self.assertNotIn("iteration_update", parser(stage).get("train#trainer"))

    def test_stage2_optimizer_trains_every_parameter_at_1e_4(self):
        optimizer = parser("stage2").get_parsed_content("optimizer")
        self.assertEqual(len(optimizer.param_groups), 2, "the encoder keeps its own group (encoder_learning_rate)")
        self.assertEqual([g["lr"] for g in optimizer.param_groups], [1e-4, 1e-4])

    def test_stage2_loss_uses_the_reference_weights(self):
        loss = parser("stage2").get_parsed_content("loss")
        self.assertIsInstance(loss, MedDisSegLoss)
        self.assertEqual(loss.auxiliary_weighting, "reference")

    @parameterized.expand([["stage2", 0.3], ["stage1", 0.3]])
    def test_dropout_holes_are_sized_at_the_source(self, stage, prob):
        augmentation = parser(stage).get_parsed_content("train#augmentation")
        dropout = [t for t in augmentation if isinstance(t, RandSourceCoarseDropoutd)]
        self.assertEqual(len(dropout), 1)
        self.assertEqual((dropout[0].holes, dropout[0].source_size, dropout[0].prob), (10, 32, prob))

    @parameterized.expand([["stage2"], ["stage1"]])
    def test_plateau_on_the_full_objective_and_best_checkpoint_by_miou(self, stage):
        p = parser(stage)
        self.assertEqual(p.get_parsed_content("lr_schedule_metric"), "val_loss")
        objective = p.get_parsed_content("validate#objective")
        self.assertIsInstance(objective, ValidationObjectiveHandler)
        self.assertEqual(objective.name, "val_loss")
        first = p.get("validate#handlers")[0].replace("::", "#")
        self.assertEqual(first, "@validate#objective", "computed before the handlers that read it")
        saver = p.get_parsed_content("validate#checkpoint_saver")
        engine = Engine(lambda *_: None)
        engine.state.metrics = {"val_mean_iou": 0.25, "val_mean_dice": 0.5, "val_loss": 1.0}
        self.assertEqual(saver._key_metric_checkpoint.score_function(engine), 0.25)
        self.assertEqual(p.get_parsed_content("checkpoint_metric"), "val_mean_iou")
        self.assertEqual(p.get_parsed_content("lr_scheduler").patience, 30)

    @parameterized.expand([["stage2"], ["stage1"]])
    def test_network_returns_the_auxiliary_outputs_for_training_and_one_tensor_in_eval(self, stage):
        network = parser(stage).get_parsed_content("network_def")
        self.assertTrue(network.auxiliary_outputs)
        x = torch.rand(2, 3, 32, 32)
        self.assertIsInstance(network.train()(x), dict)
        with torch.no_grad():
            self.assertIsInstance(network.eval()(x), torch.Tensor)

    def test_loss_terms_are_published(self):
        handlers = parser("stage2").get("train#handlers")
        self.assertIn({"_target_": "meddisseg_monai.handlers.LossTermsHandler"}, handlers)
        index = handlers.index({"_target_": "meddisseg_monai.handlers.LossTermsHandler"})
        parsed = parser("stage2", main_process=False).get_parsed_content(f"train#handlers#{index}")
        self.assertIsInstance(parsed, LossTermsHandler)

    def test_per_image_weights_are_one_override_away(self):
        loss = parser("stage2", auxiliary_weighting="mean").get_parsed_content("loss")
        self.assertEqual(loss.auxiliary_weighting, "mean")


def lr_schedule_handlers(p: ConfigParser) -> dict[str, object]:
    """The parsed LrScheduleHandler of the trainer (``"iteration"``) and of the evaluator (``"epoch"``); None when
    disabled."""
    found = {}
    for engine, level in (("train", "iteration"), ("validate", "epoch")):
        handlers = p.get(f"{engine}#handlers")
        index = next(
            i for i, h in enumerate(handlers) if isinstance(h, dict) and h.get("_target_") == "LrScheduleHandler"
        )
        found[level] = p.get_parsed_content(f"{engine}#handlers#{index}")
    return found


class TestFromScratchRecipe(unittest.TestCase):
    """``configs/train_from_scratch.json``: Adam 1e-3 for every parameter group, the recipe's plateau schedule;
    ``configs/train_one_cycle.json`` on top: a one-cycle schedule (warm-up, then cosine decay) stepped every iteration,
    no early stop, the plateau schedule off."""

    @parameterized.expand([["stage2_from_scratch", 2], ["stage1_from_scratch", 1]])
    def test_every_group_at_1e_3_with_the_plateau(self, stage, groups):
        p = parser(stage)
        self.assertEqual([g["lr"] for g in p.get_parsed_content("optimizer").param_groups], [1e-3] * groups)
        self.assertIsInstance(p.get_parsed_content("lr_scheduler"), torch.optim.lr_scheduler.ReduceLROnPlateau)

    @parameterized.expand([["stage2_one_cycle", 2], ["stage1_one_cycle", 1]])
    def test_one_cycle_over_every_iteration(self, stage, groups):
        p = parser(stage, epochs=7, **{"train#dataloader": "$list(range(5))"})  # 5 iterations an epoch
        scheduler = p.get_parsed_content("lr_scheduler")
        self.assertIsInstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
        self.assertEqual(scheduler.total_steps, 36, "one more than the iterations: the last step lands on the floor")
        optimizer = p.get_parsed_content("optimizer")
        self.assertEqual([g["max_lr"] for g in optimizer.param_groups], [1e-3] * groups)
        self.assertAlmostEqual(optimizer.param_groups[0]["lr"], 1e-3 / 25)  # the warm-up's start
        self.assertEqual(p.get_parsed_content("early_stop_patience"), 7)

    @parameterized.expand(
        [
            ["stage2", "epoch"],
            ["stage2_from_scratch", "epoch"],
            ["stage2_one_cycle", "iteration"],
            ["stage1_one_cycle", "iteration"],
        ]
    )
    def test_one_scheduler_handler_is_active(self, stage, level):
        handlers = lr_schedule_handlers(parser(stage, **{"train#dataloader": "$list(range(5))"}))
        self.assertIsNotNone(handlers[level])
        self.assertEqual(handlers[level].epoch_level, level == "epoch")
        other = "epoch" if level == "iteration" else "iteration"
        self.assertIsNone(handlers[other], f"the {other}-level handler must be disabled")

    def test_learning_rate_option_sets_every_group(self):
        p = parser("stage2_one_cycle", learning_rate=3e-3, **{"train#dataloader": "$list(range(5))"})
        scheduler = p.get_parsed_content("lr_scheduler")
        self.assertEqual([g["max_lr"] for g in scheduler.optimizer.param_groups], [3e-3, 3e-3])


@pytest.mark.slow
class TestFromScratchRecipeRun(unittest.TestCase):
    """A real Stage II run of the one-cycle overlay: the schedule took one step per training iteration and ended
    annealed."""

    @classmethod
    def setUpClass(cls):
        prepare_kvasir_run(cls, train=6, validation=2, test=1, image_size=32)  # batch 2: 3 iterations an epoch
        cls.log = checked_output(
            run_bundle(
                ["train.json", "train_from_scratch.json", "train_one_cycle.json"],
                *cls.common,
                "--epochs",
                "2",
                "--progress_bar",
                "false",
                "--stage1_model_file",
                "null",
            ),  # fmt: skip
            "Stage II from scratch",
        )

    def test_scheduler_stepped_every_iteration(self):
        state = torch.load(self.out / "models" / "last.pt", map_location="cpu", weights_only=False)["lr_scheduler"]
        self.assertEqual((state["total_steps"], state["last_epoch"]), (7, 6))
        final = 1e-3 / 25 / 1e4  # OneCycleLR's floor: max_lr / div_factor / final_div_factor
        for lr in state["_last_lr"]:
            self.assertAlmostEqual(lr, final, delta=final * 1e-6)


if __name__ == "__main__":
    unittest.main()
