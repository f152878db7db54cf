from __future__ import annotations

import math
import unittest

import numpy as np
import torch
from parameterized import parameterized

from meddisseg_monai.losses import DispersiveLoss
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
        loss = DispersiveLoss(variant=variant, reference_formula=reference)(z)
        self.assertEqual(loss.ndim, 0)
        self.assertAlmostEqual(loss.item(), independent(variant, z.numpy(), reference=reference), places=5)

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
    """ResNet-50 layer3 features (f4) of real Kvasir-SEG images at 256^2."""

    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.images = kvasir_batch(count=4, size=256)
        cls.network = MedDisSeg(feature_channels=32).train()

    def encoder_gradient(self, loss_fn):
        self.network.zero_grad()
        loss = loss_fn(self.network.encoder(self.images))
        loss.backward()
        return loss, self.network.encoder.layer3[0].conv1.weight.grad

    def test_default_has_a_real_gradient(self):
        loss, gradient = self.encoder_gradient(DispersiveLoss())
        self.assertTrue(torch.isfinite(loss))
        self.assertTrue(torch.isfinite(gradient).all())
        self.assertGreater(gradient.abs().max().item(), 1e-7)
        # not saturated at the floor log(1/B) that the loss reaches when all pairs are infinitely far apart
        self.assertGreater(loss.item(), math.log(1 / 4) - 1e-3)

    def test_reference_formula_is_dead(self):
        loss, gradient = self.encoder_gradient(DispersiveLoss(reference_formula=True))
        self.assertAlmostEqual(loss.item(), math.log(1e-8), places=4)
        self.assertEqual(gradient.abs().max().item(), 0.0)


if __name__ == "__main__":
    unittest.main()
