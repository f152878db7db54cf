"""Stage II on MONAI's own ``SupervisedTrainer`` and Stage I on ``TwoViewTrainer``, with real Kvasir-SEG batches."""

from __future__ import annotations

import unittest

import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from monai.transforms import Compose
from parameterized import parameterized

from meddisseg_monai.engines import TwoViewTrainer
from meddisseg_monai.handlers import LossTermsHandler, loss_terms
from meddisseg_monai.losses import MedDisSegLoss, MedDisSegStage1Loss
from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1
from meddisseg_monai.transforms import MainOutputd
from tests.utils import kvasir_batch

STAGE2_TERMS = {
    "loss",
    "mask",
    "foreground",
    "background",
    "complementary",
    "dispersive",
    "weight_foreground",
    "weight_background",
}
STAGE1_TERMS = {"loss", "mask", "mask_augmented", "consistency", "dispersive", "dispersive_augmented"}


def real_loader(batch_size: int = 2):
    images, masks = kvasir_batch(count=4, size=64, with_masks=True)
    data = [{"image": i, "image_augmented": 1.0 - i, "label": m} for i, m in zip(images, masks)]
    return torch.utils.data.DataLoader(data, batch_size=batch_size)


# trainer class, network, loss, expected loss terms
CASES = [
    [
        "stage2",
        SupervisedTrainer,
        lambda: MedDisSeg(feature_channels=32, auxiliary_outputs=True),
        MedDisSegLoss,
        STAGE2_TERMS,
    ],
    ["stage1", TwoViewTrainer, lambda: MedDisSegStage1(auxiliary_outputs=True), MedDisSegStage1Loss, STAGE1_TERMS],
]


def train_one_epoch(trainer_cls: type, network: torch.nn.Module, loss: torch.nn.Module) -> tuple:
    """One epoch of ``trainer_cls`` (Adam 1e-3) on the real batches; returns the trainer and each iteration's terms."""
    logged = []
    trainer = trainer_cls(
        device="cpu",
        max_epochs=1,
        train_data_loader=real_loader(),
        network=network,
        optimizer=torch.optim.Adam(network.parameters(), 1e-3),
        loss_function=loss,
        postprocessing=Compose([MainOutputd(keys="pred")]),
        train_handlers=[LossTermsHandler()],
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: logged.append(loss_terms(e.state.output)))
    trainer.run()
    return trainer, logged


class TestTrainers(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_one_epoch_updates_the_network_and_logs_every_term(self, _, trainer_cls, net_factory, loss_factory, terms):
        torch.manual_seed(0)
        network = net_factory()
        before = network.encoder.conv1.weight.detach().clone()
        trainer, logged = train_one_epoch(trainer_cls, network, loss_factory())
        self.assertEqual(len(logged), 2)
        self.assertEqual(set(logged[0]), terms)
        self.assertTrue(all(torch.isfinite(torch.tensor(list(t.values()))).all() for t in logged))
        self.assertFalse(torch.equal(before, network.encoder.conv1.weight))
        pred = trainer.state.output[0]["pred"]  # decollated per-image logits for post-transforms / metrics
        self.assertIsInstance(pred, torch.Tensor)
        self.assertEqual(tuple(pred.shape), (1, 64, 64))

    def test_published_total_equals_the_weighted_terms(self):
        torch.manual_seed(0)
        network = MedDisSeg(feature_channels=32, auxiliary_outputs=True)
        loss = MedDisSegLoss(dispersive_weight=0.6)
        _, logged = train_one_epoch(SupervisedTrainer, network, loss)
        t = logged[-1]
        expected = (
            t["mask"]
            + t["weight_foreground"] * t["foreground"]
            + t["weight_background"] * t["background"]
            + t["complementary"]
            + 0.6 * t["dispersive"]
        )
        self.assertAlmostEqual(t["loss"], expected, places=5)

    def test_network_without_the_flag_is_a_clear_error(self):
        network = MedDisSeg(feature_channels=32)
        trainer = SupervisedTrainer(
            device="cpu",
            max_epochs=1,
            train_data_loader=real_loader(),
            network=network,
            optimizer=torch.optim.Adam(network.parameters()),
            loss_function=MedDisSegLoss(),
        )
        with self.assertRaisesRegex(ValueError, "auxiliary_outputs=True"):
            trainer.run()

    def test_missing_augmented_view_is_a_clear_error(self):
        network = MedDisSegStage1(auxiliary_outputs=True)
        images, masks = kvasir_batch(count=2, size=64, with_masks=True)
        trainer = TwoViewTrainer(
            device="cpu",
            max_epochs=1,
            train_data_loader=[{"image": images, "label": masks}],
            network=network,
            optimizer=torch.optim.Adam(network.parameters()),
            loss_function=MedDisSegStage1Loss(),
        )
        with self.assertRaisesRegex(ValueError, "image_augmented"):
            trainer.run()


if __name__ == "__main__":
    unittest.main()
