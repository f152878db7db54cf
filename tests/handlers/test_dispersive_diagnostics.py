"""DispersiveDiagnosticsHandler on MONAI's SupervisedTrainer with the Stage II network and loss, real Kvasir-SEG images:
the figures reach TensorBoard and the engine state, every ``interval`` iterations."""

from __future__ import annotations

import tempfile
import unittest

import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedTrainer
from parameterized import parameterized
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from meddisseg_monai.handlers import DispersiveDiagnosticsHandler
from meddisseg_monai.losses import MedDisSegLoss
from meddisseg_monai.networks import MedDisSeg
from tests.utils import kvasir_batch

TAGS = {"dispersive/gradient_ratio", "dispersive/floor_fraction", "dispersive/value"}


class TestDispersiveDiagnosticsHandler(unittest.TestCase):
    @parameterized.expand([[1, [1, 2, 3]], [2, [1, 2]]])
    def test_logs_every_interval(self, interval, expected_steps):
        torch.manual_seed(0)
        images, masks = kvasir_batch(count=6, size=32, with_masks=True)
        data = [{"image": i, "label": m} for i, m in zip(images, masks)]
        network = MedDisSeg(feature_channels=16, auxiliary_outputs=True)
        with tempfile.TemporaryDirectory() as tmp:
            handler = DispersiveDiagnosticsHandler(interval=interval, log_dir=tmp)
            trainer = SupervisedTrainer(
                device=torch.device("cpu"),
                max_epochs=1,
                train_data_loader=DataLoader(Dataset(data), batch_size=2),
                network=network,
                optimizer=torch.optim.Adam(network.parameters(), 1e-4),
                loss_function=MedDisSegLoss(),
                train_handlers=[handler],
            )
            trainer.run()
            handler.close()
            events = EventAccumulator(tmp)
            events.Reload()
            self.assertEqual(TAGS, set(events.Tags()["scalars"]))
            steps = [e.step for e in events.Scalars("dispersive/gradient_ratio")]
        self.assertEqual(steps, expected_steps)
        figures = trainer.state.dispersive_diagnostics
        self.assertGreater(figures["gradient_mask"], 0)
        self.assertGreater(figures["floor_fraction"], 0.05)

    def test_invalid_interval(self):
        with self.assertRaises(ValueError):
            DispersiveDiagnosticsHandler(interval=0, log_dir=tempfile.gettempdir())


if __name__ == "__main__":
    unittest.main()
