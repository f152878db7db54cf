"""Tests of meddisseg_monai/utils (kept at the top level: tests/utils.py is the shared test helper module)."""

from __future__ import annotations

import unittest

from parameterized import parameterized

from meddisseg_monai.utils import Flags, as_bool, optional

BOOL_CASES = [
    [True, True],
    [False, False],
    ["true", True],
    ["False", False],
    ["false", False],
    [" YES ", True],
    ["no", False],
    ["on", True],
    ["off", False],
    ["1", True],
    ["0", False],
    [1, True],
    [0, False],
]
OPTIONAL_CASES = [[None, None], ["null", None], ["None", None], ["", None], ["a/b.pt", "a/b.pt"], [0, 0]]


class TestConfigValues(unittest.TestCase):
    @parameterized.expand(BOOL_CASES)
    def test_as_bool(self, value, expected):
        self.assertIs(as_bool(value), expected)

    @parameterized.expand([["maybe"], [None], ["ture"]])
    def test_as_bool_rejects(self, value):
        with self.assertRaisesRegex(ValueError, "boolean flag"):
            as_bool(value)

    def test_flags_parse_each_option_once(self):
        flags = Flags(save_masks="false", progress_bar=True, resume="YES")
        self.assertEqual((flags.save_masks, flags.progress_bar, flags.resume), (False, True, True))
        with self.assertRaisesRegex(ValueError, "--save_masks: expected a boolean flag"):
            Flags(save_masks="ture")

    @parameterized.expand(OPTIONAL_CASES)
    def test_optional(self, value, expected):
        self.assertEqual(optional(value), expected)


if __name__ == "__main__":
    unittest.main()
