"""Saved masks line up with their source image: the bundle's own inference transforms on a non-square image.

MONAI's PILReader transposes (``reverse_indexing``), so arrays are (channels, width, height); PILWriter transposes
back. A marker in one corner of a wide image must come back in the same corner, at the source size, with the
source's name.
"""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

import numpy as np
from monai.bundle import ConfigParser
from parameterized import parameterized
from PIL import Image

from tests.utils import BUNDLE_ROOT

# image height, width, marker rows, marker columns
CASES = [
    ["wide", 60, 100, slice(0, 20), slice(0, 40)],
    ["tall", 100, 60, slice(70, 100), slice(0, 20)],
]


class TestMaskOrientation(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_round_trip(self, _, height, width, rows, cols):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            image = np.full((height, width, 3), 40, np.uint8)
            image[rows, cols] = 220
            Image.fromarray(image).save(tmp / "case_01.jpg", quality=95)
            parser = ConfigParser()
            parser.read_config(str(BUNDLE_ROOT / "configs" / "inference.json"))
            parser.update({"bundle_root": str(BUNDLE_ROOT), "output_dir": str(tmp / "out"), "image_size": 32})
            preprocessing = parser.get_parsed_content("preprocessing")
            postprocessing = parser.get_parsed_content("postprocessing")

            data = preprocessing({"image": str(tmp / "case_01.jpg")})
            # a perfect "prediction": the marker as seen by the network (logits: +10 inside, -10 outside)
            data["pred"] = (data["image"][:1] > 0.5).float() * 20 - 10
            postprocessing(data)

            mask = np.asarray(Image.open(tmp / "out" / "inference" / "masks" / "case_01.png"))
            overlay = Image.open(tmp / "out" / "inference" / "overlays" / "case_01.png")
        self.assertEqual(mask.shape, (height, width))
        self.assertEqual(overlay.size, (width, height))
        expected = np.zeros((height, width), bool)
        expected[rows, cols] = True
        agreement = (mask > 127) == expected
        self.assertGreater(agreement.mean(), 0.95, "saved mask does not line up with the source image")
        self.assertTrue(mask[rows, cols].mean() > 200)


if __name__ == "__main__":
    unittest.main()
