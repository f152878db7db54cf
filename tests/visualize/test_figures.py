"""The PNG figures: learning curves and contact sheets are real PNG files of the expected size, drawn from real
Kvasir-SEG images; a mask that does not match its image is refused."""

from __future__ import annotations

import os
import tempfile
import unittest

import numpy as np
from PIL import Image

from meddisseg_monai.visualize import contact_sheet, plot_learning_curves
from tests.utils import kvasir_batch


class TestFigures(unittest.TestCase):
    def test_learning_curves(self):
        histories = {
            "a": [
                {"epoch": 1, "train_loss": 2.0, "val_mean_dice": 0.2},
                {"epoch": 2, "train_loss": 1.5, "val_mean_dice": None},
            ],
            "b": [{"epoch": 1, "train_loss": 1.8, "val_mean_dice": 0.3}],
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = plot_learning_curves(
                histories,
                os.path.join(tmp, "sub", "curve.png"),
                reference_lines={"val_mean_dice": {"untrained": 0.1}},
                title="t",
            )
            with Image.open(path) as image:
                self.assertEqual(image.format, "PNG")
                width, height = image.size
            self.assertGreater(width, 2 * height)  # two panels side by side

    def test_contact_sheet(self):
        images, masks = kvasir_batch(3, size=64, with_masks=True)
        cases = []
        for image, mask in zip(images, masks):
            rgb = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
            cases.append({"image": rgb, "label": mask[0].numpy(), "pred": mask[0].numpy()[::-1], "title": "x"})
        with tempfile.TemporaryDirectory() as tmp:
            path = contact_sheet(cases, os.path.join(tmp, "sheet.png"), columns=2)
            with Image.open(path) as sheet:
                self.assertEqual(sheet.format, "PNG")
                pixels = np.asarray(sheet.convert("RGB"))
            self.assertGreater(pixels.std(), 10.0)  # images were drawn, not a blank canvas
            cases[0]["pred"] = np.zeros((10, 10))
            with self.assertRaisesRegex(ValueError, "case 0: prediction"):
                contact_sheet(cases, os.path.join(tmp, "bad.png"))
            with self.assertRaisesRegex(ValueError, "at least one case"):
                contact_sheet([], os.path.join(tmp, "empty.png"))


if __name__ == "__main__":
    unittest.main()
