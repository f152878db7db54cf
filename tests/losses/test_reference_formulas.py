"""The reference's training objectives, written out independently on small tensors, against this package's losses.

The reference code (xiaoquan-1/Med-DisSeg, utils/run_engine.py and utils/run_engine_stage1.py) works on sigmoid maps;
this package on logits. Here its formulas are restated from their definitions in float64 NumPy (no code shared with
the package, none taken from the reference): DiceBCE over the whole batch, ``b = 1 / (tanh(sum p / (H W)) + 1e-15)``
(in the graph), the complementary term over the softmax of the three sigmoid maps, the reference's dispersive formula,
and Stage I's hard-consistency BCE. ``benchmarks/step_equivalence.py`` runs the reference code itself.
"""

from __future__ import annotations

import math
import unittest

import numpy as np
import torch
from parameterized import parameterized

from meddisseg_monai.losses import MedDisSegLoss, MedDisSegStage1Loss

REFERENCE_DISPERSIVE = {"variant": "infonce_l2", "temperature": 0.5, "reference_formula": True}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def dice_bce(p: np.ndarray, t: np.ndarray) -> float:
    p, t = p.reshape(-1), t.reshape(-1)
    dice = 1.0 - (2.0 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1.0)
    bce = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)).mean()
    return float(dice + bce)


def weight(p: np.ndarray) -> float:
    height, width = p.shape[2], p.shape[3]
    return float(1.0 / (math.tanh(p.sum() / (height * width)) + 1e-15))


def complementary(p_fg: np.ndarray, p_bg: np.ndarray, p_uc: np.ndarray) -> float:
    stacked = np.stack([p_fg, p_bg, p_uc])
    soft = np.exp(stacked) / np.exp(stacked).sum(axis=0, keepdims=True)
    f, b, u = soft
    return float((f * b + f * u + b * u).sum() / (p_fg.shape[0] * p_fg.shape[2] * p_fg.shape[3]))


def reference_dispersive(features: np.ndarray, temperature: float = 0.5) -> float:
    z = features.reshape(features.shape[0], -1)
    n = z.shape[0]
    distances = [math.sqrt(((z[i] - z[j]) ** 2).sum()) for i in range(n) for j in range(n) if i != j]
    return float(math.log(np.mean(np.exp(-np.array(distances) / temperature)) + 1e-8))


def hard_bce(p: np.ndarray, q: np.ndarray) -> float:
    t = (q > 0.5).astype(np.float64)
    return float(-(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)).mean())


def make_outputs(seed: int, batch: int = 3, size: int = 8) -> tuple[dict, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    outputs = {
        name: torch.randn(batch, 1, size, size, generator=generator, dtype=torch.float64).requires_grad_()
        for name in ("pred", "foreground", "background", "uncertainty")
    }
    # small features, so that the reference's exp(-distance / 0.5) does not underflow and the term is not constant
    outputs["features"] = [0.05 * torch.rand(batch, 4, 2, 2, generator=generator, dtype=torch.float64)]
    target = (torch.rand(batch, 1, size, size, generator=generator) > 0.6).double()
    return outputs, target


def numpy_of(outputs: dict) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v).detach().numpy() for k, v in outputs.items()}


class TestStage2ReferenceFormulas(unittest.TestCase):
    @parameterized.expand([[0], [1], [2]])
    def test_terms_and_total(self, seed):
        outputs, target = make_outputs(seed)
        o, y = numpy_of(outputs), target.numpy()
        p_fg, p_bg, p_uc = sigmoid(o["foreground"]), sigmoid(o["background"]), sigmoid(o["uncertainty"])
        expected = {
            "mask": dice_bce(sigmoid(o["pred"]), y),
            "foreground": dice_bce(p_fg, y),
            "background": dice_bce(p_bg, 1.0 - y),
            "complementary": complementary(p_fg, p_bg, p_uc),
            "dispersive": reference_dispersive(o["features"]),
            "weight_foreground": weight(p_fg),
            "weight_background": weight(p_bg),
        }
        total = (
            expected["mask"]
            + expected["weight_foreground"] * expected["foreground"]
            + expected["weight_background"] * expected["background"]
            + expected["complementary"]
            + 0.2 * expected["dispersive"]
        )
        loss_fn = MedDisSegLoss(dispersive=REFERENCE_DISPERSIVE, dispersive_weight=0.2)
        value = loss_fn(outputs, target)
        self.assertAlmostEqual(float(value.detach()) / total, 1.0, delta=1e-5)
        for name, reference in expected.items():
            self.assertAlmostEqual(float(loss_fn.last_terms[name]) / reference, 1.0, delta=1e-5, msg=name)

    def test_weights_stay_in_the_graph(self):
        # the gradient of the total through b: d/dx of b(x) * L(x) with b = 1 / (tanh(sum sigmoid(x) / HW) + 1e-15)
        outputs, target = make_outputs(3)
        MedDisSegLoss(dispersive=REFERENCE_DISPERSIVE)(outputs, target).backward()
        x = outputs["foreground"].detach().clone().requires_grad_()
        p = torch.sigmoid(x)
        flat_p, flat_t = p.reshape(-1), target.reshape(-1)
        term = (1 - (2 * (flat_p * flat_t).sum() + 1) / (flat_p.sum() + flat_t.sum() + 1)) + torch.mean(
            -(flat_t * torch.log(flat_p) + (1 - flat_t) * torch.log(1 - flat_p))
        )
        b = 1 / (torch.tanh(p.sum() / (x.shape[2] * x.shape[3])) + 1e-15)
        compl_p = torch.stack(
            [p, torch.sigmoid(outputs["background"].detach()), torch.sigmoid(outputs["uncertainty"].detach())]
        )
        soft = torch.softmax(compl_p, dim=0)
        compl = (soft[0] * soft[1] + soft[0] * soft[2] + soft[1] * soft[2]).sum() / (
            x.shape[0] * x.shape[2] * x.shape[3]
        )
        (b * term + compl).backward()
        torch.testing.assert_close(outputs["foreground"].grad, x.grad, rtol=1e-4, atol=1e-7)


class TestStage1ReferenceFormulas(unittest.TestCase):
    @parameterized.expand([[0], [1]])
    def test_terms_and_total(self, seed):
        outputs, target = make_outputs(seed)
        augmented, _ = make_outputs(seed + 10)
        o, a, y = numpy_of(outputs), numpy_of(augmented), target.numpy()
        p, p_aug = sigmoid(o["pred"]), sigmoid(a["pred"])
        expected = {
            "mask": dice_bce(p, y),
            "mask_augmented": dice_bce(p_aug, y),
            "consistency": hard_bce(p, p_aug) + hard_bce(p_aug, p),
            "dispersive": reference_dispersive(o["features"]),
            "dispersive_augmented": reference_dispersive(a["features"]),
        }
        total = (
            expected["mask"] + expected["mask_augmented"] + expected["consistency"]
            + 0.2 * (expected["dispersive"] + expected["dispersive_augmented"])
        )  # fmt: skip
        loss_fn = MedDisSegStage1Loss(dispersive=REFERENCE_DISPERSIVE, dispersive_weight=0.2)
        pick = lambda d: {"pred": d["pred"], "features": d["features"]}  # noqa: E731
        value = loss_fn(pick(outputs), pick(augmented), target)
        self.assertAlmostEqual(float(value.detach()) / total, 1.0, delta=1e-5)
        for name, reference in expected.items():
            self.assertAlmostEqual(float(loss_fn.last_terms[name]) / reference, 1.0, delta=1e-5, msg=name)


if __name__ == "__main__":
    unittest.main()
