from __future__ import annotations

import unittest

import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, Resized
from parameterized import parameterized

from meddisseg_monai.transforms import ShrinkLarge, ShrinkLarged, shrunk_size

# input size, target, max factor, expected
SIZES = [
    ["within_the_factor", (622, 529), (256, 256), 8, (622, 529)],
    ["one_axis_large", (6000, 400), (64, 64), 8, (512, 400)],
    ["both_large", (6000, 6000), (64, 64), 8, (512, 512)],
    ["fractional_bound", (1000, 100), (50, 50), 2.5, (125, 100)],
    ["off", (6000, 6000), (64, 64), 0, (6000, 6000)],
]


class TestShrunkSize(unittest.TestCase):
    @parameterized.expand(SIZES)
    def test_size(self, _, size, target, factor, expected):
        self.assertEqual(shrunk_size(size, target, factor), expected)

    def test_negative_factor_is_refused(self):
        with self.assertRaisesRegex(ValueError, "max_factor"):
            ShrinkLarge(64, max_factor=-1)


class TestShrinkLarge(unittest.TestCase):
    def test_small_image_is_untouched(self):
        image = torch.randint(0, 256, (3, 90, 70), dtype=torch.uint8)
        out = ShrinkLarge((32, 32), max_factor=4)(image)
        self.assertEqual(out.dtype, torch.float32)
        self.assertTrue(torch.equal(out.as_tensor(), image.float()))

    def test_large_image_is_box_averaged(self):
        image = torch.arange(2 * 40 * 40, dtype=torch.float32).reshape(2, 40, 40)
        out = ShrinkLarge((5, 5), max_factor=2)(image)  # 40 -> 10: means of 4x4 blocks
        expected = image.reshape(2, 10, 4, 10, 4).mean(dim=(2, 4))
        torch.testing.assert_close(out.as_tensor(), expected)

    @parameterized.expand([["shrunk", (3, 700, 500)], ["untouched", (3, 120, 90)]])
    def test_invertd_restores_the_input_size(self, _, shape):
        """After ShrinkLarged and Resized, ``Invertd`` of a prediction lands on the input's own size, smooth (bilinear
        values between the extremes, not only the two values of a nearest-neighbour copy)."""
        preprocessing = Compose(
            [ShrinkLarged("image", (16, 16), max_factor=4), Resized("image", (16, 16), mode="bilinear")]
        )
        data = preprocessing({"image": MetaTensor(torch.rand(shape))})
        self.assertEqual(tuple(data["image"].shape), (3, 16, 16))
        pred = torch.zeros(1, 16, 16)
        pred[:, :, 8:] = 1.0
        data["pred"] = MetaTensor(pred, applied_operations=data["image"].applied_operations)
        inverted = Invertd("pred", transform=preprocessing, orig_keys="image", nearest_interp=False)(data)["pred"]
        self.assertEqual(tuple(inverted.shape), (1, *shape[1:]))
        between = ((inverted > 0.05) & (inverted < 0.95)).sum().item()
        self.assertGreater(between, 0)
        self.assertLess(between, 0.2 * inverted.numel())

    def test_inverse_is_bilinear(self):
        """The inverse alone (no network resize after it): a 0/1 step on the shrunk grid comes back with values
        between 0 and 1 along the step (a nearest-neighbour copy would have none)."""
        shrink = ShrinkLarged("image", (16, 16), max_factor=4)
        data = shrink({"image": MetaTensor(torch.rand(1, 700, 500))})
        self.assertEqual(tuple(data["image"].shape), (1, 64, 64))
        pred = torch.zeros(1, 64, 64)
        pred[:, :, 32:] = 1.0
        data["image"] = MetaTensor(pred, applied_operations=data["image"].applied_operations)
        inverted = shrink.inverse(data)["image"]
        self.assertEqual(tuple(inverted.shape), (1, 700, 500))
        self.assertGreater(int(((inverted > 0.05) & (inverted < 0.95)).sum()), 0)


if __name__ == "__main__":
    unittest.main()
