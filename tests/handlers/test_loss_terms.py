"""LossTermsHandler and loss_terms on a real trainer (MONAI's SupervisedTrainer, a real Kvasir-SEG batch)."""

from __future__ import annotations

import unittest

import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from monai.networks.nets import UNet
from parameterized import parameterized

from meddisseg_monai.handlers import LossTermsHandler, loss_terms
from meddisseg_monai.losses import MedDisSegStage1Loss, segmentation_loss
from tests.utils import kvasir_batch


class _TwoOutputs(torch.nn.Module):
    """A small real network whose train-mode output is the dict a Stage I loss takes."""

    def __init__(self) -> None:
        super().__init__()
        self.net = UNet(2, 3, 1, channels=(8, 16), strides=(2,))

    def forward(self, x):
        logits = self.net(x)
        return {"pred": logits, "features": [logits]}


class _SingleView(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.loss = MedDisSegStage1Loss()

    def forward(self, outputs, target):
        total = self.loss.single_view(outputs, target)
        self.last_terms = {"single_view": total.detach()}
        return total


# network, loss, expected logged keys
CASES = [
    ["terms published", _TwoOutputs, _SingleView, {"loss", "single_view"}],
    [
        "a loss without terms",
        lambda: UNet(2, 3, 1, channels=(8, 16), strides=(2,)),
        lambda: segmentation_loss(1),
        {"loss"},
    ],
]


class TestLossTermsHandler(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_logged_terms(self, _, net_factory, loss_factory, expected):
        images, masks = kvasir_batch(count=2, size=64, with_masks=True)
        network = net_factory()
        logged = []
        trainer = SupervisedTrainer(
            device="cpu",
            max_epochs=1,
            train_data_loader=[{"image": images, "label": masks}],
            network=network,
            optimizer=torch.optim.Adam(network.parameters()),
            loss_function=loss_factory(),
            train_handlers=[LossTermsHandler()],
            decollate=False,
        )
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: logged.append(loss_terms(e.state.output)))
        trainer.run()
        self.assertEqual(set(logged[0]), expected)
        if "single_view" in expected:
            self.assertAlmostEqual(logged[0]["single_view"], logged[0]["loss"], places=6)

    def test_loss_terms_of_an_empty_output(self):
        self.assertEqual(loss_terms([]), {})


if __name__ == "__main__":
    unittest.main()
