"""GridHausdorffDistanceMetric: MONAI's HD95 with each item's spacing taken from its ground truth's affine."""

from __future__ import annotations

import unittest

import torch
from monai.data import MetaTensor
from monai.metrics import HausdorffDistanceMetric
from parameterized import parameterized

from meddisseg_monai.metrics import GridHausdorffDistanceMetric

# spacing of the ground truth's grid: the distance must be MONAI's with that spacing passed explicitly
SPACINGS = [[(1.0, 1.0, 1.0)], [(2.0, 3.0, 4.0)], [(0.8, 0.8, 5.0)]]


def _masks() -> tuple[torch.Tensor, torch.Tensor]:
    truth = torch.zeros(2, 16, 16, 16)
    truth[1, 4:12, 4:12, 4:12] = 1
    prediction = torch.zeros_like(truth)
    prediction[1, 5:12, 3:10, 4:14] = 1
    truth[0], prediction[0] = 1 - truth[1], 1 - prediction[1]
    return prediction, truth


class TestGridHausdorffDistance(unittest.TestCase):
    @parameterized.expand(SPACINGS)
    def test_spacing_from_the_truth_affine(self, spacing):
        prediction, truth = _masks()
        affine = torch.diag(torch.tensor([*spacing, 1.0]))
        metric = GridHausdorffDistanceMetric(include_background=False, percentile=95)
        value = metric([prediction], [MetaTensor(truth, affine=affine)])
        expected = HausdorffDistanceMetric(include_background=False, percentile=95)(
            prediction[None], truth[None], spacing=list(spacing)
        )
        self.assertAlmostEqual(float(value), float(expected), places=5)
        if spacing != (1.0, 1.0, 1.0):  # in voxels it would differ: the spacing is really applied
            voxels = HausdorffDistanceMetric(include_background=False, percentile=95)(prediction[None], truth[None])
            self.assertNotAlmostEqual(float(value), float(voxels), places=3)

    def test_plain_tensor_is_in_voxels(self):
        prediction, truth = _masks()
        value = GridHausdorffDistanceMetric(include_background=False, percentile=95)(prediction[None], truth[None])
        expected = HausdorffDistanceMetric(include_background=False, percentile=95)(prediction[None], truth[None])
        self.assertAlmostEqual(float(value), float(expected), places=5)

    def test_empty_truth_is_not_finite(self):
        prediction, truth = _masks()
        truth[1] = 0
        value = GridHausdorffDistanceMetric(include_background=False, percentile=95)([prediction], [MetaTensor(truth)])
        self.assertFalse(torch.isfinite(value).any())


if __name__ == "__main__":
    unittest.main()
