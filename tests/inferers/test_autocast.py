from __future__ import annotations

import unittest

import torch
from monai.inferers import SlidingWindowInferer
from monai.networks import eval_mode
from parameterized import parameterized

from meddisseg_monai.inferers import AutocastInferer
from meddisseg_monai.networks import MedDisSeg
from meddisseg_monai.utils import resolve_autocast
from tests.utils import EMULATED_BF16_REASON, NATIVE_BF16

CASES = [
    [None, None],
    ["fp32", None],
    ["auto", None],
    ["bf16", SlidingWindowInferer(roi_size=(32, 32), sw_batch_size=2)],
]


class TestAutocastInferer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.net = MedDisSeg(feature_channels=16)

    @parameterized.expand(CASES)
    def test_output_dtype_and_values(self, autocast, inner):
        if resolve_autocast(autocast, "cpu") == "bf16" and not NATIVE_BF16:
            self.skipTest(EMULATED_BF16_REASON)
        x = torch.rand(1, 3, 64, 64)
        with eval_mode(self.net):
            out = AutocastInferer(inner, autocast)(x, self.net)
            expected = (inner or (lambda i, n: n(i)))(x, self.net)
        self.assertEqual(out.dtype, torch.float32)
        self.assertEqual(tuple(out.shape), (1, 1, 64, 64))
        tolerance = (
            0.15 if resolve_autocast(autocast, "cpu") == "bf16" else 1e-6
        )  # bf16 keeps ~3 significant digits through 100+ layers
        self.assertLess(float((out - expected).abs().max()), tolerance * max(1.0, float(expected.abs().max())))

    def test_runs_under_autocast(self):
        seen = []
        AutocastInferer(autocast="bf16")(torch.rand(1, 2), lambda x: seen.append(torch.is_autocast_enabled("cpu")) or x)
        self.assertEqual(seen, [True])

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "autocast must be one of"):
            AutocastInferer(autocast="int8")
        with self.assertRaisesRegex(ValueError, "fp16 autocast is for GPUs"):
            AutocastInferer(autocast="fp16")(torch.rand(1, 2), lambda x: x)


if __name__ == "__main__":
    unittest.main()
