"""Tests of meddisseg_monai/utils/precision.py."""

from __future__ import annotations

import logging
import unittest
from pathlib import Path

import torch
from parameterized import parameterized

from meddisseg_monai.utils import (
    autocast_context,
    autocast_name,
    bf16_native,
    describe_precision,
    precision,
    resolve_autocast,
)

NAME_CASES = [
    [None, None],
    ["fp32", None],
    ["none", None],
    ["null", None],
    ["", None],
    ["bf16", "bf16"],
    ["BF16", "bf16"],
    ["fp16", "fp16"],
    ["bfloat16", "bfloat16"],
    ["auto", "auto"],
    [" Auto ", "auto"],
]


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


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

    @unittest.skipUnless(Path("/proc/cpuinfo").exists(), "needs /proc/cpuinfo to read the CPU's flags")
    def test_bf16_native_matches_the_cpu_flags(self):
        flags = cpu_flags()
        self.assertEqual(
            bf16_native("cpu"), bool({"avx512_bf16", "amx_bf16"} & flags), sorted(flags & {"avx2", "avx512f"})
        )
        self.assertIn("bf16 native" if bf16_native("cpu") else "bf16 emulated", describe_precision("cpu"))
        self.assertIn(torch.backends.cpu.get_cpu_capability(), describe_precision("cpu"))

    def test_auto_is_bf16_only_where_native(self):
        self.assertEqual(resolve_autocast("auto", "cpu"), "bf16" if bf16_native("cpu") else None)
        self.assertIsNone(resolve_autocast("fp32", "cpu"))
        self.assertEqual(resolve_autocast("fp16", "cpu"), "fp16")  # kept; autocast_context refuses it on a CPU
        self.assertIsNone(resolve_autocast("auto", "meta"))  # no native bf16 on other device types

    def test_auto_logs_the_choice_once(self):
        precision._reported.clear()
        with self.assertLogs(precision.logger, logging.INFO) as logs:
            resolve_autocast("auto", "cpu")
            resolve_autocast("auto", "cpu")
        self.assertEqual(len(logs.records), 1)
        self.assertIn("autocast 'auto' -> " + ("bf16" if bf16_native("cpu") else "fp32"), logs.output[0])

    @unittest.skipIf(bf16_native("cpu"), "bf16 is native on this CPU: there is no slowdown to warn about")
    def test_explicit_bf16_where_emulated_warns_once(self):
        precision._reported.clear()
        with self.assertLogs(precision.logger, logging.WARNING) as logs:
            self.assertEqual(resolve_autocast("bf16", "cpu"), "bf16")
            resolve_autocast("bf16", "cpu")
        self.assertEqual(len(logs.records), 1)
        self.assertIn("emulated", logs.output[0])
        self.assertIn("40x", logs.output[0])

    def test_auto_context_on_cpu(self):
        a, b = torch.rand(4, 4), torch.rand(4, 4)
        with autocast_context("cpu", "auto"):
            self.assertEqual((a @ b).dtype, torch.bfloat16 if bf16_native("cpu") else torch.float32)

    def test_fp16_on_cpu_refused(self):
        with self.assertRaisesRegex(ValueError, "fp16 autocast is for GPUs"):
            autocast_context("cpu", "fp16")


if __name__ == "__main__":
    unittest.main()
