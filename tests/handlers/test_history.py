"""EpochHistoryHandler on a real trainer and evaluator (MONAI engines, a small UNet, real Kvasir-SEG images): one
record per epoch with the loss and the validation metrics, atomic rewrites, and a resumed run that continues."""

from __future__ import annotations

import os
import tempfile
import unittest

import torch
from ignite.engine import Events
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import MeanDice, ValidationHandler
from monai.networks.nets import UNet
from monai.transforms import Activationsd, AsDiscreted, Compose

from meddisseg_monai.handlers import EpochHistoryHandler, read_history
from meddisseg_monai.losses import segmentation_loss
from tests.utils import kvasir_batch


def _engines(history_file: str, images: torch.Tensor, masks: torch.Tensor, val_interval: int = 1):
    torch.manual_seed(0)
    network = UNet(2, 3, 1, channels=(8, 16), strides=(2,))
    data = [{"image": images[i : i + 2], "label": masks[i : i + 2]} for i in range(0, len(images), 2)]
    post = Compose([Activationsd(keys="pred", sigmoid=True), AsDiscreted(keys="pred", threshold=0.5)])
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=data[:1],
        network=network,
        postprocessing=post,
        key_val_metric={
            "val_mean_dice": MeanDice(output_transform=lambda o: ([x["pred"] for x in o], [x["label"] for x in o]))
        },
    )
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=3,
        train_data_loader=data,
        network=network,
        optimizer=torch.optim.Adam(network.parameters(), 1e-2),
        loss_function=segmentation_loss(out_channels=1),
        train_handlers=[
            ValidationHandler(validator=evaluator, interval=val_interval, epoch_level=True),
            EpochHistoryHandler(history_file, validator=evaluator),
        ],
    )
    return trainer, evaluator


class TestEpochHistoryHandler(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.images, cls.masks = kvasir_batch(4, size=32, with_masks=True)

    def test_records_every_epoch(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "logs", "history.json")
            trainer, _ = _engines(path, self.images, self.masks)
            trainer.run()
            history = read_history(path)
            self.assertEqual([e["epoch"] for e in history], [1, 2, 3])
            self.assertEqual([e["iteration"] for e in history], [2, 4, 6])
            for record in history:
                self.assertGreater(record["train_loss"], 0.0)
                self.assertTrue(0.0 <= record["val_mean_dice"] <= 1.0)
            elapsed = [e["elapsed_seconds"] for e in history]
            self.assertEqual(elapsed, sorted(elapsed))
            self.assertFalse(os.path.exists(path + ".partial"))

    def test_metrics_only_for_validated_epochs(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "history.json")
            trainer, _ = _engines(path, self.images, self.masks, val_interval=2)
            trainer.run()
            self.assertEqual(["val_mean_dice" in e for e in read_history(path)], [False, True, False])

    def test_resumed_run_keeps_earlier_epochs(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "history.json")
            trainer, _ = _engines(path, self.images, self.masks)
            trainer.run()
            first = read_history(path)
            # a resumed run: the trainer's state restored at epoch 2 (as a checkpoint loader does at STARTED)
            resumed, _ = _engines(path, self.images, self.masks)

            @resumed.on(Events.STARTED)
            def _restore(engine):
                engine.state.epoch, engine.state.iteration = 2, 4

            resumed.run()
            history = read_history(path)
            self.assertEqual([e["epoch"] for e in history], [1, 2, 3])
            self.assertEqual(history[:2], first[:2])  # the epochs before the resume point are kept as they were
            self.assertNotEqual(history[2]["elapsed_seconds"], None)

    def test_no_file_reads_empty(self):
        self.assertEqual(read_history(os.path.join(tempfile.gettempdir(), "no_such_history.json")), [])


if __name__ == "__main__":
    unittest.main()
