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

    def test_size_mismatch(self):
        with self.assertRaisesRegex(ValueError, "sizes differ"):
            MaskOverlay()(torch.zeros(3, 10, 10), torch.zeros(1, 10, 12))

    def test_dict_keeps_image_meta(self):
        image = MetaTensor(torch.zeros(3, 8, 8), meta={"filename_or_obj": "/data/a.jpg"})
        out = MaskOverlayd(keys="source", mask_key="pred", names="overlay")({"source": image, "pred": torch.ones(1, 8, 8)})
        self.assertEqual(out["overlay"].meta["filename_or_obj"], "/data/a.jpg")


if __name__ == "__main__":
    unittest.main()
