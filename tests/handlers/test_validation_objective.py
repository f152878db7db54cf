"""The full training objective on validation batches (what the plateau scheduler watches), on real Kvasir-SEG."""

from __future__ import annotations

import math
import unittest

import torch
from monai.engines import SupervisedEvaluator
from monai.inferers import SlidingWindowInferer
from monai.networks import eval_mode
from monai.networks.nets import UNet
from parameterized import parameterized

from meddisseg_monai.handlers import ValidationObjectiveHandler
from meddisseg_monai.losses import MedDisSegLoss, MedDisSegStage1Loss, segmentation_loss
from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1
from tests.utils import kvasir_batch


def batches(batch_size: int = 2):
    images, masks = kvasir_batch(count=4, size=64, with_masks=True)
    return [{"image": images[i : i + batch_size], "label": masks[i : i + batch_size]} for i in range(0, 4, batch_size)]


def expected_stage2(network, loss, data) -> float:
    values = []
    with eval_mode(network):
        for batch in data:
            features = network.encoder(batch["image"])
            maps = [h(m) for h, m in zip(network.auxiliary_heads, network.decoupling(features[3]))]
            outputs = {"pred": network(batch["image"]), "features": features}
            outputs.update(zip(("foreground", "background", "uncertainty"), maps))
            values.append(float(loss(outputs, batch["label"])))
    return sum(values) / len(values)


def expected_stage1(network, loss, data) -> float:
    with eval_mode(network):
        values = [
            float(loss.single_view({"pred": network(b["image"]), "features": network.encoder(b["image"])}, b["label"]))
            for b in data
        ]
    return sum(values) / len(values)


def expected_plain(network, loss, data) -> float:
    with eval_mode(network):
        values = [float(loss(network(b["image"]), b["label"])) for b in data]
    return sum(values) / len(values)


def run(network, loss_function, data, inferer=None) -> float:
    evaluator = SupervisedEvaluator(
        device="cpu",
        val_data_loader=data,
        network=network,
        inferer=inferer,
        val_handlers=[ValidationObjectiveHandler(loss_function, name="val_loss")],
    )
    evaluator.run()
    return evaluator.state.metrics["val_loss"]


# network, the handler's loss function (from the loss), independent computation
CASES = [
    [
        "stage2",
        lambda: MedDisSeg(feature_channels=32, auxiliary_outputs=True),
        MedDisSegLoss(),
        lambda loss: loss,
        expected_stage2,
    ],
    [
        "stage1",
        lambda: MedDisSegStage1(auxiliary_outputs=True),
        MedDisSegStage1Loss(),
        lambda loss: loss.single_view,
        expected_stage1,
    ],
    [
        "baseline",
        lambda: UNet(2, 3, 1, channels=(8, 16), strides=(2,), norm="batch"),
        segmentation_loss(1),
        lambda loss: loss,
        expected_plain,
    ],
]


class TestValidationObjectiveHandler(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_equals_the_objective_computed_in_eval_mode(self, _, net_factory, loss, handler_loss, expected):
        torch.manual_seed(0)
        network = net_factory().train()
        data = batches()
        norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        running_means = [m.running_mean.clone() for m in norms]
        value = run(network, handler_loss(loss), data)
        self.assertTrue(network.training, "the evaluator restores the network's mode")
        for norm, before in zip(norms, running_means):  # auxiliary heads included: they ran in eval mode
            self.assertTrue(torch.equal(norm.running_mean, before), "no batch-norm statistics change")
        self.assertAlmostEqual(value, expected(network, loss, data), places=5)

    def test_a_batch_of_one_image_is_left_out(self):
        torch.manual_seed(0)
        network = MedDisSeg(feature_channels=32, auxiliary_outputs=True)
        data = batches()
        images, masks = kvasir_batch(count=5, size=64, with_masks=True)
        single = [{"image": images[4:], "label": masks[4:]}]
        loss = MedDisSegLoss()
        self.assertAlmostEqual(run(network, loss, data + single), expected_stage2(network, loss, data), places=5)
        self.assertTrue(math.isnan(run(network, loss, single)))

    def test_hooks_are_removed_after_the_epoch(self):
        network = MedDisSeg(feature_channels=32, auxiliary_outputs=True)
        run(network, MedDisSegLoss(), batches())
        self.assertEqual(len(network.encoder._forward_hooks), 0)
        self.assertEqual(len(network.decoupling._forward_hooks), 0)

    def test_sliding_windows_are_a_clear_error(self):
        network = MedDisSeg(feature_channels=32, auxiliary_outputs=True)
        with self.assertRaisesRegex(ValueError, "once per batch"):
            run(network, MedDisSegLoss(), batches(), inferer=SlidingWindowInferer(roi_size=(32, 32), sw_batch_size=1))


if __name__ == "__main__":
    unittest.main()
