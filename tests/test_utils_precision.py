"""Tests of meddisseg_monai/utils/precision.py."""

from __future__ import annotations

import unittest

import torch
from parameterized import parameterized

from meddisseg_monai.utils import autocast_context, autocast_name

NAME_CASES = [[None, None], ["fp32", None], ["none", None], ["null", None], ["", None], ["bf16", "bf16"],
              ["BF16", "bf16"], ["fp16", "fp16"], ["bfloat16", "bfloat16"]]


class TestPrecision(unittest.TestCase):
    @parameterized.expand(NAME_CASES)
    def test_autocast_name(self, value, expected):
        self.assertEqual(autocast_name(value), expected)

    @parameterized.expand([["fp8"], ["half precision"], [16]])
    def test_autocast_name_rejects(self, value):
        with self.assertRaisesRegex(ValueError, "autocast must be one of"):
            autocast_name(value)

    def test_bf16_context_on_cpu(self):
        a, b = torch.rand(4, 4), torch.rand(4, 4)
        with autocast_context("cpu", "bf16"):
            self.assertEqual((a @ b).dtype, torch.bfloat16)
        with autocast_context("cpu", None):
            self.assertEqual((a @ b).dtype, torch.float32)

    def test_fp16_on_cpu_refused(self):
        with self.assertRaisesRegex(ValueError, "fp16 autocast is for GPUs"):
            autocast_context("cpu", "fp16")


if __name__ == "__main__":
    unittest.main()
