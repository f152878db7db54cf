"""Coarse dropout sized at the source resolution (the reference's holes), on real Kvasir-SEG images."""

from __future__ import annotations

import unittest

import torch
from monai.data import MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, RandCoarseDropoutd, Resized
from parameterized import parameterized

from meddisseg_monai.transforms import RandSourceCoarseDropoutd, source_hole_size
from tests.utils import shared_data_path

# hole size at the source, source shape, grid shape, expected hole size on the grid
SIZE_CASES = [
    [32, (622, 529), (256, 256), (13, 15)],
    [32, (1920, 1072), (256, 256), (4, 8)],
    [32, (256, 256), (256, 256), (32, 32)],
    [(32, 16), (512, 512), (64, 64), (4, 2)],
    [32, (10000, 64), (64, 64), (1, 32)],  # never below one pixel
]


def load_resized(image_id: str, size: int = 256) -> dict:
    folder = shared_data_path("Kvasir-SEG")
    loading = Compose(
        [
            LoadImaged("image", reader="PILReader", image_only=True),
            EnsureChannelFirstd("image"),
            Resized("image", (size, size), anti_aliasing=True),
        ]
    )
    return loading({"image": str(folder / "images" / f"{image_id}.jpg")})


def dropped_fraction(before: torch.Tensor, after: torch.Tensor) -> float:
    """Fraction of pixels set to 0 in every channel by the dropout (pixels black before do not count)."""
    dropped = (after == 0).all(0) & ~(before == 0).all(0)
    return float(dropped.float().mean())


class TestSourceHoleSize(unittest.TestCase):
    @parameterized.expand(SIZE_CASES)
    def test_size(self, size, source_shape, shape, expected):
        self.assertEqual(source_hole_size(size, source_shape, shape), expected)

    def test_mismatched_dimensions(self):
        with self.assertRaises(ValueError):
            source_hole_size((32, 32, 32), (100, 100), (64, 64))


class TestRandSourceCoarseDropoutd(unittest.TestCase):
    def test_one_hole_has_the_source_size_on_a_real_image(self):
        data = load_resized("cju0qkwl35piu0993l0dewei2")
        source = [int(s) for s in data["image"].meta["spatial_shape"]]
        expected = source_hole_size(32, source, (256, 256))
        out = RandSourceCoarseDropoutd("image", holes=1, source_size=32, prob=1.0).set_random_state(0)(data)
        dropped = (out["image"] == 0).all(0) & ~(data["image"] == 0).all(0)
        rows, cols = torch.nonzero(dropped, as_tuple=True)
        # the hole's bounding box (pixels that were already black inside it are not counted, so <=)
        self.assertLessEqual(int(rows.max() - rows.min() + 1), expected[0])
        self.assertLessEqual(int(cols.max() - cols.min() + 1), expected[1])
        self.assertGreater(int(dropped.sum()), 0.8 * expected[0] * expected[1])

    def test_ten_holes_remove_about_three_percent_where_fixed_holes_remove_five_times_more(self):
        data = load_resized("cju0qkwl35piu0993l0dewei2")
        source = RandSourceCoarseDropoutd("image", holes=10, source_size=32, prob=1.0).set_random_state(0)(data)
        fixed = RandCoarseDropoutd("image", holes=10, spatial_size=32, fill_value=0.0, prob=1.0).set_random_state(0)(
            {"image": data["image"].clone()}
        )
        source_fraction = dropped_fraction(data["image"], source["image"])
        fixed_fraction = dropped_fraction(data["image"], fixed["image"])
        self.assertLessEqual(source_fraction, 10 * 32 * 32 / (622 * 529) * 1.1)  # <= ~3.1 %: holes may overlap
        self.assertGreater(source_fraction, 0.015)
        self.assertGreater(fixed_fraction, 3 * source_fraction)

    def test_probability_zero_leaves_the_image(self):
        data = load_resized("cju0qkwl35piu0993l0dewei2")
        out = RandSourceCoarseDropoutd("image", prob=0.0)(data)
        self.assertTrue(torch.equal(out["image"], data["image"]))

    def test_an_image_without_source_shape_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "spatial_shape"):
            RandSourceCoarseDropoutd("image", prob=1.0)({"image": torch.rand(3, 64, 64)})

    def test_invalid_hole_counts(self):
        with self.assertRaises(ValueError):
            RandSourceCoarseDropoutd("image", holes=0)
        with self.assertRaises(ValueError):
            RandSourceCoarseDropoutd("image", holes=5, max_holes=2)

    def test_input_is_not_modified(self):
        image = MetaTensor(torch.rand(3, 64, 64) + 0.1, meta={"spatial_shape": (128, 128)})
        before = image.clone()
        RandSourceCoarseDropoutd("image", prob=1.0)({"image": image})
        self.assertTrue(torch.equal(image, before))

    def test_holes_are_the_same_for_every_key(self):
        image = MetaTensor(torch.rand(3, 64, 64) + 0.1, meta={"spatial_shape": (128, 128)})
        out = RandSourceCoarseDropoutd(["image", "copy"], prob=1.0).set_random_state(3)(
            {"image": image, "copy": image.clone()}
        )
        self.assertTrue(torch.equal(out["image"], out["copy"]))
        self.assertLess(float((out["image"] == 0).float().mean()), 1.0)


if __name__ == "__main__":
    unittest.main()
