"""CT transforms on real volumes: label remapping, volume checks and grid checks, with errors naming the file."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd
from parameterized import parameterized

from meddisseg_monai.data.ct import label_lookup_table
from meddisseg_monai.transforms.ct import CheckCTVolumed, CheckSameGridd, RemapOrganLabelsd
from tests.utils import shared_data_path


def loader(keys=("image", "label"), label_set="btcv13", source="totalsegmentator_v2") -> Compose:
    """The loading and checking head of the bundle's preprocessing."""
    keys = list(keys)
    transforms = [LoadImaged(keys, image_only=True), EnsureChannelFirstd(keys), CheckCTVolumed(keys)]
    if "label" in keys:
        transforms.append(RemapOrganLabelsd("label", label_set, source=source))
    transforms += [Orientationd(keys, axcodes="RAS", labels=None), CheckSameGridd(keys)]
    return Compose(transforms)


def root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


class TestRemap(unittest.TestCase):
    @parameterized.expand([["btcv13"], ["synapse8"]])
    def test_real_labels(self, label_set):
        data = shared_data_path("CT-TotalSegmentator-examples")
        files = {"image": str(data / "example_ct_sm.nii.gz"), "label": str(data / "example_seg.nii.gz")}
        out = loader(label_set=label_set)(files)
        source = np.asarray(nib.load(data / "example_seg.nii.gz").dataobj).astype(int)
        expected = label_lookup_table(label_set, "totalsegmentator_v2")[source]
        label = out["label"]
        self.assertEqual(tuple(label.shape), (1, *source.shape))  # example_seg is stored RAS already
        np.testing.assert_array_equal(label[0].numpy().astype(int), expected)
        organs = set(range(1, 9)) if label_set == "synapse8" else set(range(1, 14)) - {5}  # no esophagus here
        self.assertEqual(set(np.unique(expected)) - {0}, organs)
        self.assertIn("filename_or_obj", label.meta)  # still a MetaTensor with its meta data

    def test_per_case_source_wins(self):
        label = torch.tensor([[[[0.0, 1.0, 8.0, 11.0]]]])
        remap = RemapOrganLabelsd("label", "synapse8", source="totalsegmentator_v2")
        out = remap({"label": label, "source_labels": "btcv13"})["label"]  # btcv13: 1 spleen, 8 aorta, 11 pancreas
        self.assertEqual(out.flatten().tolist(), [0, 7, 1, 6])
        out = remap({"label": label})["label"]  # totalsegmentator_v2: 1 spleen, 8 adrenal (not synapse), 11 (not)
        self.assertEqual(out.flatten().tolist(), [0, 7, 0, 0])

    @parameterized.expand(
        [[[0.0, 118.0], "118"], [[0.0, -1.0], "-1"], [[0.0, 2.5], "2.5"], [[0.0, float("nan")], "nan"]]
    )
    def test_ids_outside_the_map(self, values, shown):
        remap = RemapOrganLabelsd("label", "btcv13", source="totalsegmentator_v2")
        with self.assertRaisesRegex(ValueError, rf"(?s)seg_x\.nii\.gz.*{shown}.*totalsegmentator_v2"):
            remap({"label": MetaTensor(torch.tensor([[values]]), meta={"filename_or_obj": "/data/seg_x.nii.gz"})})


class TestBadVolumes(unittest.TestCase):
    """Each bad input fails with a ValueError (or the reader's error) that names the offending file."""

    @classmethod
    def setUpClass(cls):
        data = shared_data_path("CT-TotalSegmentator-examples")
        cls.tmp = tempfile.mkdtemp()
        ct = nib.load(data / "example_ct_sm.nii.gz")
        seg = nib.load(data / "example_seg.nii.gz")
        volume = np.asarray(ct.dataobj).astype(np.float32)
        labels = np.asarray(seg.dataobj).astype(np.int16)
        cls.files = {"image": str(data / "example_ct_sm.nii.gz"), "label": str(data / "example_seg.nii.gz")}

        def save(name, array, affine=ct.affine):
            path = os.path.join(cls.tmp, name)
            nib.save(nib.Nifti1Image(array, affine), path)
            return path

        nan = volume.copy()
        nan[10, 20, 5] = np.nan
        bad_ids = labels.copy()
        bad_ids[0, 0, 0] = 200
        shifted = ct.affine.copy()
        shifted[:3, 3] += 30.0
        cls.cases = {
            "2d": ({"image": save("slice_2d.nii.gz", volume[:, :, 10])}, "slice_2d.nii.gz", "2D image"),
            "4d": ({"image": save("series_4d.nii.gz", np.stack([volume, volume], -1))}, "series_4d.nii.gz", "4D image"),
            "nan": ({"image": save("nan.nii.gz", nan)}, "nan.nii.gz", "NaN"),
            "ids": ({"label": save("bad_ids.nii.gz", bad_ids)}, "bad_ids.nii.gz", "200"),
            "shape": ({"label": save("cropped.nii.gz", labels[:, :, :20])}, "cropped.nii.gz", "spatial shape"),
            "affine": ({"label": save("shifted.nii.gz", labels, shifted)}, "shifted.nii.gz", "affines differ"),
        }

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @parameterized.expand([["2d"], ["4d"], ["nan"], ["ids"], ["shape"], ["affine"]])
    def test_clear_error(self, name):
        replacement, file_name, message = self.cases[name]
        with self.assertRaises(Exception) as caught:
            loader()({**self.files, **replacement})
        error = root_cause(caught.exception)
        self.assertIsInstance(error, ValueError)
        self.assertIn(file_name, str(error))
        self.assertIn(message, str(error))

    def test_unreadable_dicom_folder(self):
        folder = os.path.join(self.tmp, "not_dicom")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "IM0001"), "w") as stream:
            stream.write("not a DICOM file")
        with self.assertRaises(Exception) as caught:
            loader(keys=("image",))({"image": folder})
        self.assertIn(folder, str(root_cause(caught.exception)))


class TestGrid(unittest.TestCase):
    def test_dicom_and_its_nifti_label_share_the_grid_after_reorientation(self):
        """The DICOM series reads as LPS, its segmentation is stored LAS: the same grid, accepted after RAS."""
        data = shared_data_path("CT-TotalSegmentator-examples")
        files = {"image": str(data / "example_ct_dicom"), "label": str(data / "example_seg_dicom.nii.gz")}
        raw = Compose([LoadImaged(["image", "label"], image_only=True), EnsureChannelFirstd(["image", "label"])])(files)
        self.assertFalse(np.allclose(raw["image"].affine, raw["label"].affine))  # stored differently
        out = loader()(files)
        self.assertEqual(tuple(out["image"].shape), (1, 512, 512, 20))
        np.testing.assert_allclose(out["image"].affine, out["label"].affine, atol=1e-3)
        self.assertTrue((out["label"] == 6).any())  # the liver (btcv13 class 6) is in this series


if __name__ == "__main__":
    unittest.main()
