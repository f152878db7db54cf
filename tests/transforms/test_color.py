from __future__ import annotations

import unittest

import torch
from monai.data import MetaTensor
from parameterized import parameterized

from meddisseg_monai.transforms import (
    RandColorJitter,
    RandColorJitterd,
    RandGrayscale,
    RandGrayscaled,
    hsv_to_rgb,
    rgb_to_grayscale,
    rgb_to_hsv,
)

JITTER_CASES = [
    ["paper", {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.1}],
    ["brightness_only", {"brightness": 0.5, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}],
    ["hue_only", {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.5}],
    ["ranges", {"brightness": (0.5, 0.6), "contrast": (1.0, 1.0), "saturation": (0.0, 0.0), "hue": (0.0, 0.0)}],
]

BAD_ARGUMENTS = [
    ["negative_brightness", {"brightness": -0.1}],
    ["hue_above_half", {"hue": 0.6}],
    ["empty_range", {"contrast": (2.0, 1.0)}],
]


def _image(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 8, 10, generator=torch.Generator().manual_seed(seed))


class TestColorSpace(unittest.TestCase):
    def test_hsv_round_trip(self):
        image = _image()
        torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(image)), image, atol=1e-5, rtol=0)

    def test_pure_colours(self):
        colours = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).T.reshape(3, 1, 3)
        hue = rgb_to_hsv(colours)[0, 0]
        torch.testing.assert_close(hue, torch.tensor([0.0, 1 / 3, 2 / 3]))


class TestRandColorJitter(unittest.TestCase):
    @parameterized.expand(JITTER_CASES)
    def test_range_shape_and_seed(self, _, kwargs):
        image = MetaTensor(_image(), meta={"filename_or_obj": "x.png"})
        first = RandColorJitter(**kwargs).set_random_state(3)(image)
        second = RandColorJitter(**kwargs).set_random_state(3)(image)
        self.assertEqual(first.shape, image.shape)
        self.assertTrue(float(first.min()) >= 0.0 and float(first.max()) <= 1.0)
        torch.testing.assert_close(first, second)
        self.assertEqual(first.meta["filename_or_obj"], "x.png")

    def test_identity_factors(self):
        image = _image()
        out = RandColorJitter(brightness=0, contrast=0, saturation=0, hue=0)(image)
        torch.testing.assert_close(out, image)

    def test_brightness_scales(self):
        image = _image() * 0.5
        out = RandColorJitter(brightness=(0.5, 0.5), contrast=0, saturation=0, hue=0)(image)
        torch.testing.assert_close(out, image * 0.5)

    def test_zero_saturation_is_gray(self):
        out = RandColorJitter(brightness=0, contrast=0, saturation=(0.0, 0.0), hue=0)(_image())
        torch.testing.assert_close(out[0], out[1])
        torch.testing.assert_close(out[1], out[2])

    def test_prob_zero_is_identity(self):
        image = _image()
        torch.testing.assert_close(RandColorJitter(prob=0.0)(image), image)

    def test_not_rgb(self):
        with self.assertRaisesRegex(ValueError, "RGB"):
            RandColorJitter()(torch.rand(1, 4, 4))

    @parameterized.expand(BAD_ARGUMENTS)
    def test_bad_arguments(self, _, kwargs):
        with self.assertRaises(ValueError):
            RandColorJitter(**kwargs)

    def test_dict_same_factors_for_every_key(self):
        image = _image()
        out = RandColorJitterd(keys=["a", "b"]).set_random_state(1)({"a": image, "b": image.clone()})
        torch.testing.assert_close(out["a"], out["b"])
        self.assertFalse(torch.allclose(out["a"], image))


class TestRandGrayscale(unittest.TestCase):
    def test_always(self):
        image = _image()
        out = RandGrayscale(prob=1.0)(image)
        for c in range(3):
            torch.testing.assert_close(out[c], rgb_to_grayscale(image)[0])

    def test_never(self):
        image = _image()
        torch.testing.assert_close(RandGrayscale(prob=0.0)(image), image)

    def test_dict(self):
        image = _image()
        out = RandGrayscaled(keys="view", prob=1.0)({"view": image, "other": image})
        torch.testing.assert_close(out["view"][0], out["view"][2])
        torch.testing.assert_close(out["other"], image)

    def test_dict_probability(self):
        transform = RandGrayscaled(keys="view", prob=0.5).set_random_state(0)
        gray = sum(
            bool(torch.allclose(o[0], o[1])) for o in (transform({"view": _image(i)})["view"] for i in range(200))
        )
        self.assertTrue(60 < gray < 140, gray)


if __name__ == "__main__":
    unittest.main()
