from __future__ import annotations

import unittest

import numpy as np
import torch
from monai.data import MetaTensor
from parameterized import parameterized

from meddisseg_monai.transforms import BinarizeMask, BinarizeMaskd, EnsureRGB, EnsureRGBd

# channels in, how the 3 output channels are made from the input
RGB_CASES = [
    ["gray", 1, [0, 0, 0]],
    ["gray_alpha", 2, [0, 0, 0]],
    ["rgb", 3, [0, 1, 2]],
    ["rgba", 4, [0, 1, 2]],
]

# mask channels (values per channel), threshold, expected foreground
BINARIZE_CASES = [
    ["jpeg_noise_low", [[3, 0, 5]], 127, 0.0],
    ["jpeg_noise_high", [[252, 250, 255]], 127, 1.0],
    ["exactly_128", [[128]], 127, 1.0],
    ["exactly_127", [[127]], 127, 0.0],
    ["instance_id_1", [[1]], 0, 1.0],
    ["instance_id_0", [[0]], 0, 0.0],
    ["red_only_mask", [[255, 0, 0]], 127, 1.0],
    ["rgba_alpha_ignored", [[0, 0, 0, 255]], 127, 0.0],
    ["gray_alpha_uses_gray", [[0, 255]], 127, 0.0],
]


class TestEnsureRGB(unittest.TestCase):
    @parameterized.expand(RGB_CASES)
    def test_channels(self, _, channels, source):
        image = torch.arange(channels * 12, dtype=torch.float32).reshape(channels, 3, 4)
        out = EnsureRGB()(image)
        self.assertEqual(tuple(out.shape), (3, 3, 4))
        for c, s in enumerate(source):
            torch.testing.assert_close(out[c], image[s])

    def test_bad_channel_count_names_the_file(self):
        image = MetaTensor(torch.zeros(5, 4, 4), meta={"filename_or_obj": "/data/odd.tif"})
        with self.assertRaisesRegex(ValueError, "odd.tif.*5 channels"):
            EnsureRGB()(image)

    def test_dict_keeps_meta(self):
        image = MetaTensor(torch.zeros(1, 4, 6), meta={"filename_or_obj": "a.png"})
        out = EnsureRGBd(keys="image")({"image": image})["image"]
        self.assertEqual(tuple(out.shape), (3, 4, 6))
        self.assertEqual(out.meta["filename_or_obj"], "a.png")


class TestBinarizeMask(unittest.TestCase):
    @parameterized.expand(BINARIZE_CASES)
    def test_threshold(self, _, channel_values, threshold, expected):
        values = torch.tensor(channel_values[0], dtype=torch.float32)
        mask = values.view(-1, 1, 1).expand(-1, 2, 3).clone()
        out = BinarizeMask(threshold)(mask)
        self.assertEqual(tuple(out.shape), (1, 2, 3))
        self.assertEqual(out.dtype, torch.float32)
        self.assertTrue(torch.all(out == expected))

    def test_dict_numpy_input(self):
        mask = np.array([[[0, 200], [255, 90]]], dtype=np.uint8)
        out = BinarizeMaskd(keys="label", threshold=127)({"label": mask})["label"]
        np.testing.assert_array_equal(np.asarray(out), [[[0.0, 1.0], [1.0, 0.0]]])


if __name__ == "__main__":
    unittest.main()
