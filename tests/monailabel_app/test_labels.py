"""The label check of the MONAI Label app (``monailabel_app/lib/labels.py``) on real files, without a server.

``lib/labels.py`` needs only numpy and MONAI, so it runs in the project's environment too; the real-server tests
(``tests/bundle/test_meddisseg_*_monailabel.py``) check the same through ``PUT /datastore/label``.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import unittest
from pathlib import Path

import nibabel as nib
import numpy as np
from parameterized import parameterized
from PIL import Image

from tests.utils import REPO_ROOT, shared_data_path

_spec = importlib.util.spec_from_file_location(
    "meddisseg_monailabel_labels", REPO_ROOT / "monailabel_app" / "lib" / "labels.py"
)
labels = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = labels  # dataclasses look their module up there
_spec.loader.exec_module(labels)

SPECS = {
    "2d": labels.LabelSpec.from_bundle(REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"),
    "ct": labels.LabelSpec.from_bundle(REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"),
}


class TestLabelSpec(unittest.TestCase):
    def test_from_bundles(self):
        self.assertEqual(
            (SPECS["2d"].dimension, SPECS["2d"].binary, SPECS["2d"].labels), (2, True, {"foreground": 255})
        )
        self.assertEqual((SPECS["ct"].dimension, SPECS["ct"].binary), (3, False))
        self.assertEqual(SPECS["ct"].values, set(range(14)))
        self.assertEqual(SPECS["ct"].labels["liver"], 6)


class TestCheckLabel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        kvasir = shared_data_path("Kvasir-SEG")
        image_id = (kvasir / "val.txt").read_text().split()[0]
        cls.frame = kvasir / "images" / f"{image_id}.jpg"
        cls.mask = (np.asarray(Image.open(kvasir / "masks" / f"{image_id}.jpg").convert("L")) >= 128).astype(np.uint8)
        ct = shared_data_path("CT-TotalSegmentator-examples")
        cls.ct = ct / "example_ct_sm.nii.gz"
        cls.ct_affine = nib.load(cls.ct).affine
        cls.ct_shape = nib.load(cls.ct).shape

    def write(self, kind: str) -> Path:
        path = self.tmp / f"{kind}.png"
        if kind == "png_0_255":
            Image.fromarray(self.mask * 255).save(path)
        elif kind == "png_0_1":
            Image.fromarray(self.mask).save(path)
        elif kind == "jpeg_0_255":
            path = self.tmp / f"{kind}.jpg"
            Image.fromarray(self.mask * 255).save(path, quality=75)
        elif kind == "png_half_size":
            Image.fromarray(self.mask * 255).resize((self.mask.shape[1] // 2, self.mask.shape[0] // 2)).save(path)
        elif kind == "png_rgb":
            Image.fromarray(self.mask * 255).convert("RGB").save(path)
        elif kind == "not_an_image":
            path.write_bytes(b"\x89PNG but not really")
        elif kind.startswith("ct_"):
            path = self.tmp / f"{kind}.nii.gz"
            data = np.zeros(self.ct_shape, np.uint8)
            data[10:20, 10:20, 5:10] = {"ct_ids": 6, "ct_id_20": 20}.get(kind, 6)
            if kind == "ct_cropped":
                data = data[:, :, :10]
            nib.save(nib.Nifti1Image(data, self.ct_affine), path)
        return path

    @parameterized.expand(
        [
            ("png_0_255", "frame", None),
            ("png_0_1", "frame", "values 1 are outside the label map of '2d' (0: background, 255: foreground)"),
            ("jpeg_0_255", "frame", "saved as PNG"),
            ("png_half_size", "frame", "differs from its image's"),
            ("png_rgb", "frame", "3 channels"),
            ("not_an_image", "frame", "cannot be read as an image"),
            ("ct_ids", "ct", None),
            ("ct_id_20", "ct", "values 20 are outside the label map of 'ct'"),
            ("ct_cropped", "ct", "differs from its image's"),
        ]
    )
    def test_check(self, kind, image, error):
        label = self.write(kind)
        image = self.frame if image == "frame" else self.ct
        if error is None:
            labels.check_label(str(label), str(image), SPECS)
            return
        with self.assertRaises(labels.LabelError) as caught:
            labels.check_label(str(label), str(image), SPECS, name=label.name)
        self.assertIn(error, str(caught.exception))
        self.assertIn(label.name, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
