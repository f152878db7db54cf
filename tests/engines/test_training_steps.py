from __future__ import annotations

import unittest

import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from parameterized import parameterized

from meddisseg_monai.engines import MultiOutputTrainingStep, TwoViewTrainingStep, autocast_context, loss_terms
from meddisseg_monai.losses import MedDisSegLoss, MedDisSegStage1Loss
from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1
from tests.utils import EMULATED_BF16_REASON, NATIVE_BF16, kvasir_batch

STAGE2_TERMS = {"loss", "mask", "foreground", "background", "complementary", "dispersive", "weight_foreground", "weight_background"}
STAGE1_TERMS = {"loss", "mask", "mask_augmented", "consistency", "dispersive", "dispersive_augmented"}


def real_loader(batch_size: int = 2):
    images, masks = kvasir_batch(count=4, size=64, with_masks=True)
    data = [{"image": i, "image_augmented": 1.0 - i, "label": m} for i, m in zip(images, masks)]
    return torch.utils.data.DataLoader(data, batch_size=batch_size)


# network, loss, step, expected loss terms
CASES = [
    ["stage2", lambda: MedDisSeg(feature_channels=32), MedDisSegLoss, lambda: MultiOutputTrainingStep(), STAGE2_TERMS],
    ["stage2 bf16", lambda: MedDisSeg(feature_channels=32), MedDisSegLoss, lambda: MultiOutputTrainingStep("bf16"), STAGE2_TERMS],
    ["stage2 auto", lambda: MedDisSeg(feature_channels=32), MedDisSegLoss, lambda: MultiOutputTrainingStep("auto"), STAGE2_TERMS],
    ["stage1", MedDisSegStage1, MedDisSegStage1Loss, lambda: TwoViewTrainingStep(), STAGE1_TERMS],
]


class TestTrainingSteps(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_one_epoch_updates_the_network_and_logs_every_term(self, name, net_factory, loss_factory, step_factory, terms):
        if "bf16" in name and not NATIVE_BF16:
            self.skipTest(EMULATED_BF16_REASON)
        torch.manual_seed(0)
        network = net_factory()
        before = network.encoder.conv1.weight.detach().clone()
        logged = []
        trainer = SupervisedTrainer(
            device="cpu",
            max_epochs=1,
            train_data_loader=real_loader(),
            network=network,
            optimizer=torch.optim.Adam(network.parameters(), 1e-3),
            loss_function=loss_factory(),
            iteration_update=step_factory(),
        )
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: logged.append(loss_terms(e.state.output)))
        trainer.run()
        self.assertEqual(len(logged), 2)
        self.assertEqual(set(logged[0]), terms)
        self.assertTrue(all(torch.isfinite(torch.tensor(list(t.values()))).all() for t in logged))
        self.assertFalse(torch.equal(before, network.encoder.conv1.weight))
        pred = trainer.state.output[0]["pred"]  # decollated per-image logits for post-transforms / metrics
        self.assertEqual(tuple(pred.shape), (1, 64, 64))

    def test_missing_augmented_view_is_a_clear_error(self):
        network = MedDisSegStage1()
        images, masks = kvasir_batch(count=2, size=64, with_masks=True)
        trainer = SupervisedTrainer(
            device="cpu",
            max_epochs=1,
            train_data_loader=[{"image": images, "label": masks}],
            network=network,
            optimizer=torch.optim.Adam(network.parameters()),
            loss_function=MedDisSegStage1Loss(),
            iteration_update=TwoViewTrainingStep(),
        )
        with self.assertRaisesRegex(ValueError, "image_augmented"):
            trainer.run()

    @parameterized.expand([["fp8"], ["half precision"]])
    def test_invalid_autocast(self, dtype):
        with self.assertRaises(ValueError):
            MultiOutputTrainingStep(autocast=dtype)

    def test_fp16_autocast_is_refused_on_cpu(self):
        with self.assertRaisesRegex(ValueError, "bf16"):
            autocast_context("cpu", "fp16")


if __name__ == "__main__":
    unittest.main()
