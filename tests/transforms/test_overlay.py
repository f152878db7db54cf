from __future__ import annotations

import unittest

import torch
from monai.data import MetaTensor
from parameterized import parameterized

from meddisseg_monai.transforms import MaskOverlay, MaskOverlayd

# image channels, image range
CASES = [["rgb_8bit", 3, 255.0], ["gray_8bit", 1, 255.0], ["rgb_scaled", 3, 1.0]]


class TestMaskOverlay(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_overlay(self, _, channels, image_range):
        image = torch.full((channels, 40, 30), 0.5 * image_range)
        mask = torch.zeros(1, 40, 30)
        mask[:, 10:30, 5:25] = 1
        out = MaskOverlay(color=(0, 255, 0), alpha=0.5, image_range=image_range)(image, mask)
        self.assertEqual(tuple(out.shape), (3, 40, 30))
        self.assertEqual(out.dtype, torch.uint8)
        self.assertEqual(out[:, 0, 0].tolist(), [128, 128, 128])  # outside: untouched
        self.assertEqual(out[:, 10, 15].tolist(), [0, 255, 0])  # boundary: the colour
        self.assertEqual(out[:, 20, 15].tolist(), [64, 191, 64])  # inside: tinted

    @parameterized.expand([["one_strip", 10_000], ["strips_of_7_rows", 7], ["strips_of_300_rows", 300]])
    def test_outline_against_a_square_max_filter(self, _, strip_rows):
        """The outline (pixels inside with an outside pixel within the thickness, 3 px at 600 rows) matches a plain
        square max filter of the outside, however the rows are cut into strips."""
        torch.manual_seed(0)
        mask = (torch.rand(1, 600, 520) > 0.7).float()
        mask[:, 100:400, 50:300] = 1
        overlay = MaskOverlay(color=(0, 255, 0), alpha=0.0, strip_rows=strip_rows)
        out = overlay(torch.zeros(3, 600, 520), mask)
        thickness = 1 + 520 // 256
        near = torch.nn.functional.max_pool2d(1 - mask[None], 2 * thickness + 1, stride=1, padding=thickness)[0]
        expected = (mask * near)[0] > 0
        self.assertTrue(torch.equal(out[1] == 255, expected))

    def test_size_mismatch(self):
        with self.assertRaisesRegex(ValueError, "sizes differ"):
            MaskOverlay()(torch.zeros(3, 10, 10), torch.zeros(1, 10, 12))

    def test_dict_keeps_image_meta(self):
        image = MetaTensor(torch.zeros(3, 8, 8), meta={"filename_or_obj": "/data/a.jpg"})
        out = MaskOverlayd(keys="source", mask_key="pred", names="overlay")(
            {"source": image, "pred": torch.ones(1, 8, 8)}
        )
        self.assertEqual(out["overlay"].meta["filename_or_obj"], "/data/a.jpg")


if __name__ == "__main__":
    unittest.main()
