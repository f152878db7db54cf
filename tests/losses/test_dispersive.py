from __future__ import annotations

import math
import unittest

import numpy as np
import torch
from parameterized import parameterized

from meddisseg_monai.losses import DispersiveLoss, MedDisSegLoss
from meddisseg_monai.losses.diagnostics import dispersive_diagnostics
from meddisseg_monai.networks import MedDisSeg
from tests.utils import kvasir_batch


def fixed_features(batch: int = 6, dim: int = 5, scale: float = 0.3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    return torch.randn(batch, dim, generator=generator, dtype=torch.float64) * scale


def independent(variant: str, z: np.ndarray, temperature: float = 0.5, reference: bool = False) -> float:
    """Straight-from-the-definition float64 loops (no shared code with the implementation)."""
    n, dim = z.shape
    pairs = [(i, j) for i in range(n) for j in range(n) if (i != j or not reference)]
    if variant == "covariance":
        if not reference:
            z = z / np.linalg.norm(z, axis=1, keepdims=True)
        centred = z - z.mean(axis=0)
        cov = centred.T @ centred / (n - 1)
        return float((cov**2).sum() - (np.diag(cov) ** 2).sum())
    values = []
    for i, j in pairs:
        if variant == "infonce_cosine":
            distance = 1 - z[i] @ z[j] / (np.linalg.norm(z[i]) * np.linalg.norm(z[j]))
        elif reference:
            distance = math.sqrt(((z[i] - z[j]) ** 2).sum())
        else:
            distance = ((z[i] - z[j]) ** 2).sum() / dim
        values.append(distance)
    values = np.array(values)
    if variant == "hinge":
        if not reference:
            values = values[[i != j for i, j in pairs]]
        return float((np.maximum(0, 1.0 - values) ** 2).mean())
    mean = np.exp(-values / temperature).mean()
    return float(np.log(mean + 1e-8) if reference else np.log(mean))


FORMULA_CASES = [[v, r] for v in ("infonce_l2", "infonce_cosine", "hinge", "covariance") for r in (False, True)]


class TestDispersiveLossFormulas(unittest.TestCase):
    @parameterized.expand(FORMULA_CASES)
    def test_matches_independent_computation(self, variant, reference):
        z = fixed_features()
        scale = {} if reference else {"distance_scale": "dimension"}
        loss = DispersiveLoss(variant=variant, reference_formula=reference, **scale)(z)
        self.assertEqual(loss.ndim, 0)
        self.assertAlmostEqual(loss.item(), independent(variant, z.numpy(), reference=reference), places=5)

    @parameterized.expand([[v, sc] for v in ("infonce_l2", "hinge") for sc in ("batch", "unit")])
    def test_distance_scales_match_independent_computation(self, variant, scale):
        z = fixed_features().numpy()
        n = z.shape[0]
        if scale == "unit":
            z = z / np.linalg.norm(z, axis=1, keepdims=True)
        distances = np.array([[((z[i] - z[j]) ** 2).sum() for j in range(n)] for i in range(n)])
        if scale == "batch":
            distances = distances / (distances.sum() / (n * (n - 1)))
        if variant == "hinge":
            expected = np.mean([max(0.0, 1.0 - distances[i, j]) ** 2 for i in range(n) for j in range(n) if i != j])
        else:
            expected = math.log(np.exp(-distances / 0.5).mean())
        loss = DispersiveLoss(variant=variant, distance_scale=scale)(torch.from_numpy(z))
        self.assertAlmostEqual(loss.item(), float(expected), places=5)

    @parameterized.expand([[v] for v in ("infonce_l2", "infonce_cosine", "hinge", "covariance")])
    def test_feature_map_input_returns_scalar_with_gradient(self, variant):
        features = (0.3 * torch.randn(4, 8, 6, 6)).requires_grad_()  # pairs within the hinge margin
        loss = DispersiveLoss(variant=variant, temperature=0.8)(features)
        loss.backward()
        self.assertEqual(loss.ndim, 0)
        self.assertTrue(torch.isfinite(features.grad).all())
        self.assertGreater(features.grad.abs().sum().item(), 0)

    def test_covariance_is_bounded_in_memory(self):
        # 8 x 262,144: layer3 of ResNet-50 at 256^2. The explicit covariance would be 262,144^2 floats (275 GB).
        z = torch.randn(8, 1024 * 16 * 16, requires_grad=True)
        loss = DispersiveLoss(variant="covariance")(z)
        loss.backward()
        self.assertTrue(torch.isfinite(loss) and torch.isfinite(z.grad).all())

    @parameterized.expand(
        [
            ["late", [3]],
            ["mid", [2]],
            ["early", [1]],
            ["all", [0, 1, 2, 3]],
            [0, [0]],
            [[0, -1], [0, 3]],
        ]
    )
    def test_level_selection(self, levels, expected):
        self.assertEqual(DispersiveLoss(levels=levels).select_levels(4), expected)

    def test_levels_pick_the_feature_maps(self):
        features = [torch.randn(3, 2, 4, 4) * s for s in (0.1, 0.5, 1.0, 2.0)]
        per_level = DispersiveLoss(levels="all", reduction="none")(features)
        self.assertEqual(per_level.shape, (4,))
        torch.testing.assert_close(DispersiveLoss(levels="late")(features), DispersiveLoss()(features[3]))
        torch.testing.assert_close(DispersiveLoss(levels="all")(features), per_level.mean())

    @parameterized.expand([["avg", 4], ["max", 4], ["flatten", 64]])
    def test_pooling(self, pooling, dim):
        loss = DispersiveLoss(pooling=pooling)
        self.assertEqual(loss.to_vectors(torch.randn(3, 4, 4, 4)).shape, (3, dim))

    @parameterized.expand(
        [
            [{"variant": "l1"}],
            [{"temperature": 0}],
            [{"pooling": "median"}],
            [{"levels": "deepest"}],
            [{"distance_scale": "median"}],
            [{"reference_formula": True, "pooling": "avg"}],
        ]
    )
    def test_invalid_options(self, kwargs):
        with self.assertRaises(ValueError):
            DispersiveLoss(**kwargs)

    def test_single_sample_batch_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "at least 2"):
            DispersiveLoss()(torch.randn(1, 10))


class TestDispersiveLossOnRealImages(unittest.TestCase):
    """Does the term act? ResNet-50 layer3 features (f4) of 8 real Kvasir-SEG images at 64^2, through the Stage II
    network at initialisation (the figures of ``benchmarks/dispersive_choice.py``): the weighted (0.2) dispersive
    gradient on layer3 against the mask loss's on the same parameters, and how far an InfoNCE form is from its floor."""

    # DispersiveLoss arguments, whether the form must act (both goals met) or is known to be saturated
    CASES = [
        [{}, True],  # the default
        [{"distance_scale": "dimension", "pooling": "flatten"}, False],  # Wang & He's form, the previous default
        [{"reference_formula": True}, False],  # the reference's exact formula: underflows, gradient exactly 0
    ]

    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        images, masks = kvasir_batch(count=8, size=64, with_masks=True, split="val")
        network = MedDisSeg()
        objective = MedDisSegLoss()
        losses = {str(i): DispersiveLoss(**kwargs) for i, (kwargs, _) in enumerate(cls.CASES)}
        cls.figures = dispersive_diagnostics(
            network, images, masks, objective.segmentation, losses, objective.dispersive_weight
        )
        cls.network = network

    @parameterized.expand([[str(i), kwargs, live] for i, (kwargs, live) in enumerate(CASES)])
    def test_acts_or_is_known_saturated(self, index, kwargs, live):
        figures = self.figures[index]
        self.assertTrue(math.isfinite(figures["dispersive"]) and figures["gradient_mask"] > 0)
        acts = figures["gradient_ratio"] >= 0.01 and (figures["floor_fraction"] or 0.0) > 0.05
        self.assertEqual(acts, live, f"{kwargs}: {figures}")

    def test_default_goals(self):
        figures = self.figures["0"]
        self.assertGreater(figures["floor_fraction"], 0.05)  # > 5 % of the way from log(1/B) to 0
        self.assertGreaterEqual(figures["gradient_ratio"], 0.01)  # >= 1 % of the mask loss's gradient on layer3

    def test_reference_formula_is_dead(self):
        figures = self.figures["2"]
        self.assertAlmostEqual(figures["dispersive"], math.log(1e-8), places=4)
        self.assertEqual(figures["gradient_dispersive"], 0.0)

    def test_diagnostics_leave_the_training_state_alone(self):
        before = {k: v.clone() for k, v in self.network.state_dict().items()}
        images, masks = kvasir_batch(count=2, size=32, with_masks=True)
        dispersive_diagnostics(self.network, images, masks, MedDisSegLoss().segmentation, DispersiveLoss(), 0.2)
        for key, value in self.network.state_dict().items():
            self.assertTrue(torch.equal(value, before[key]), key)
        self.assertTrue(all(p.grad is None for p in self.network.parameters()))


class TestScaleFreeDefault(unittest.TestCase):
    """The default form does not depend on the features' magnitude or dimension, and stays off its floor."""

    @parameterized.expand([[8, 16], [8, 1024], [4, 262144]])
    def test_invariant_to_feature_scale(self, batch, dim):
        z = torch.rand(batch, dim, generator=torch.Generator().manual_seed(1))
        loss = DispersiveLoss(distance_scale="batch")
        torch.testing.assert_close(loss(z), loss(1000.0 * z), rtol=1e-4, atol=1e-5)

    @parameterized.expand([[2], [8], [32]])
    def test_jensen_lower_bound(self, batch):
        # nearly identical features but one far outlier: still >= log((B + (B^2 - B) e^{-1/t}) / B^2)
        z = torch.zeros(batch, 64)
        z[0] = 100.0
        z += 1e-3 * torch.rand(batch, 64, generator=torch.Generator().manual_seed(2))
        bound = math.log((batch + (batch * batch - batch) * math.exp(-1 / 0.5)) / batch**2)
        self.assertGreaterEqual(DispersiveLoss(pooling="flatten")(z).item(), bound - 1e-6)

    def test_default_pooling_follows_reference_formula(self):
        self.assertEqual(DispersiveLoss().pooling, "avg")
        self.assertEqual(DispersiveLoss(reference_formula=True).pooling, "flatten")


if __name__ == "__main__":
    unittest.main()
