from __future__ import annotations

import logging
import tempfile
import unittest
from pathlib import Path

import numpy as np
from parameterized import parameterized
from PIL import Image

from meddisseg_monai.data import DatalistError, check_items, check_training_batches, check_unique_names


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> str:
    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    image.save(path)
    return str(path)


def _pair(folder: Path, name: str, size=(20, 30), image_mode="RGB", mask_value=255, mask_size=None) -> dict:
    image = np.full((*size, 3), 120, np.uint8)
    mask = np.zeros(mask_size or size, np.uint8)
    mask[5:10, 5:10] = mask_value
    return {
        "image": _save(folder / f"{name}.png", image, image_mode),
        "label": _save(folder / f"{name}_mask.png", mask),
    }


def _truncated(folder: Path) -> dict:
    item = _pair(folder, "truncated")
    jpeg = folder / "truncated.jpg"
    Image.open(item["image"]).save(jpeg, quality=90)
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    return {"image": str(jpeg), "label": item["label"]}


# name, how to make the bad entry, text the error must contain
BAD_ENTRIES = [
    [
        "missing_image",
        lambda d: {"image": str(d / "nope.jpg"), "label": _pair(d, "m")["label"]},
        "nope.jpg: image file not found",
    ],
    [
        "missing_mask",
        lambda d: {"image": _pair(d, "m")["image"], "label": str(d / "gone.png")},
        "gone.png: mask file not found",
    ],
    ["truncated_jpeg", _truncated, "truncated.jpg: image cannot be read"],
    [
        "not_an_image",
        lambda d: {
            "image": str((d / "text.jpg").write_text("hello") and d / "text.jpg"),
            "label": _pair(d, "t")["label"],
        },
        "text.jpg: image cannot be read",
    ],
    ["size_mismatch", lambda d: _pair(d, "s", size=(20, 30), mask_size=(30, 20)), "image is 30x20 but its mask"],
    ["palette_image", lambda d: _pair(d, "p", image_mode="P"), "image mode 'P' is not supported"],
    ["no_label", lambda d: {"image": _pair(d, "n")["image"]}, "has no 'label'"],
    ["no_image_key", lambda d: {"label": _pair(d, "k")["label"]}, "entry without an 'image'"],
]


class TestCheckItems(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self._tmp.name)

    def tearDown(self):
        self._tmp.cleanup()

    @parameterized.expand(BAD_ENTRIES)
    def test_bad_entry_is_named(self, _, make, message):
        good = [_pair(self.dir, f"good{i}") for i in range(3)]
        with self.assertRaises(DatalistError) as raised:
            check_items(good + [make(self.dir)], what="my.json [training]")
        text = str(raised.exception)
        self.assertIn(message, text)
        self.assertIn("my.json [training]: 1 problem(s)", text)

    def test_every_bad_entry_in_one_error(self):
        items = [_pair(self.dir, "ok")] + [{"image": str(self.dir / f"missing{i}.png"), "label": "x"} for i in range(3)]
        with self.assertRaises(DatalistError) as raised:
            check_items(items)
        for i in range(3):
            self.assertIn(f"missing{i}.png", str(raised.exception))

    @parameterized.expand([["gray", "L"], ["rgba", "RGBA"], ["gray_alpha", "LA"]])
    def test_converted_images_are_reported(self, _, mode):
        items = [_pair(self.dir, "a", image_mode=mode), _pair(self.dir, "b")]
        with self.assertLogs("meddisseg_monai.data.validation", logging.WARNING) as logs:
            report = check_items(items)
        self.assertEqual(dict(report.converted), {mode: 1})
        self.assertIn("converted to RGB", "\n".join(logs.output))

    def test_one_empty_mask_is_kept_and_reported(self):
        items = [_pair(self.dir, "empty", mask_value=0), _pair(self.dir, "full")]
        report = check_items(items)
        self.assertEqual(report.empty_masks, [items[0]["label"]])

    def test_all_masks_empty_is_an_error(self):
        items = [_pair(self.dir, f"m{i}", mask_value=1) for i in range(2)]  # 0/1 masks read at threshold 127
        with self.assertRaisesRegex(DatalistError, "all 2 masks are empty.*mask_threshold 0"):
            check_items(items, mask_threshold=127)
        self.assertEqual(check_items(items, mask_threshold=0).empty_masks, [])

    def test_empty_list(self):
        with self.assertRaisesRegex(DatalistError, "empty"):
            check_items([])

    def test_images_only(self):
        report = check_items([{"image": _pair(self.dir, "i")["image"]}], require_label=False)
        self.assertEqual(report.num_items, 1)

    @parameterized.expand([[6, 8, "fewer than one batch of 8"], [10, 1, "at least 2"]])
    def test_training_batches(self, num_items, batch_size, message):
        with self.assertRaisesRegex(DatalistError, message):
            check_training_batches(num_items, batch_size)
        check_training_batches(8, 8)

    def test_unique_names(self):
        check_unique_names(["/a/x.jpg", "/a/y.jpg"])
        with self.assertRaisesRegex(DatalistError, "x: /a/x.jpg, /b/x.png"):
            check_unique_names(["/a/x.jpg", "/b/x.png"])


if __name__ == "__main__":
    unittest.main()
