"""Per-organ CT evaluation: statuses, Dice, HD95 in millimetres, CSV + JSON, and a batch that survives bad cases."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import unittest

import nibabel as nib
import numpy as np
from parameterized import parameterized

from meddisseg_monai.data.ct import label_lookup_table
from meddisseg_monai.evaluation.ct import evaluate_cases, main, organ_metrics, prediction_path
from tests.utils import shared_data_path


def boxes(shape, *spans):
    """Label map with class i + 1 filling the box spans[i] (a tuple of slices), or absent for None."""
    volume = np.zeros(shape, dtype=np.int64)
    for index, span in enumerate(spans):
        if span is not None:
            volume[span] = index + 1
    return volume


S = np.s_
# name, prediction boxes, truth boxes, spacing, expected [(status, dice, hd95_mm)] per organ
METRIC_CASES = [
    ["identical", [S[2:6, 2:6, 2:6]], [S[2:6, 2:6, 2:6]], (1, 1, 1), [("present", 1.0, 0.0)]],
    ["absent", [None], [None], (1, 1, 1), [("absent", None, None)]],
    ["missed", [None], [S[2:6, 2:6, 2:6]], (1, 1, 1), [("missed", 0.0, None)]],
    ["spurious", [S[2:6, 2:6, 2:6]], [None], (1, 1, 1), [("spurious", 0.0, None)]],
    # a box shifted by 2 voxels along the last axis: Dice 2/4, surface distances 2 voxels = 2 x 3 mm
    ["shifted_mm", [S[2:6, 2:6, 4:8]], [S[2:6, 2:6, 2:6]], (0.8, 0.8, 3.0), [("present", 0.5, 6.0)]],
    [
        "two_organs",
        [S[1:3, 1:3, 1:3], None],
        [S[1:3, 1:3, 1:3], S[5:7, 5:7, 5:7]],
        (1, 1, 1),
        [("present", 1.0, 0.0), ("missed", 0.0, None)],
    ],
]


class TestOrganMetrics(unittest.TestCase):
    @parameterized.expand(METRIC_CASES)
    def test_metrics(self, _, prediction, truth, spacing, expected):
        organs = [f"organ{i}" for i in range(len(expected))]
        rows = organ_metrics(boxes((10, 10, 12), *prediction), boxes((10, 10, 12), *truth), spacing, organs)
        for row, (status, dice, hd95) in zip(rows, expected):
            self.assertEqual(row["status"], status)
            for key, value in (("dice", dice), ("hd95_mm", hd95)):
                if value is None:
                    self.assertIsNone(row[key], key)
                else:
                    self.assertAlmostEqual(row[key], value, places=4, msg=key)

    def test_volumes_in_millilitres(self):
        (row,) = organ_metrics(boxes((8, 8, 8), S[0:4, 0:4, 0:4]), boxes((8, 8, 8), None), (0.8, 0.8, 3.0), ["organ"])
        self.assertAlmostEqual(row["prediction_volume_ml"], 64 * 0.8 * 0.8 * 3.0 / 1000)
        self.assertEqual(row["truth_volume_ml"], 0.0)

    def test_prediction_path_matches_save_imaged(self):
        self.assertEqual(prediction_path("/data/case_1.nii.gz", "/out"), "/out/case_1_seg.nii.gz")
        self.assertEqual(prediction_path("/data/series_dicom/", "/out"), "/out/series_dicom_seg.nii.gz")


class TestEvaluateCases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = shared_data_path("CT-TotalSegmentator-examples")
        cls.tmp = tempfile.mkdtemp()
        seg = nib.load(cls.data / "example_seg.nii.gz")
        truth = label_lookup_table("btcv13", "totalsegmentator_v2")[np.asarray(seg.dataobj).astype(int)]
        cls.perfect = os.path.join(cls.tmp, "perfect.nii.gz")
        nib.save(nib.Nifti1Image(truth.astype(np.uint8), seg.affine), cls.perfect)
        damaged = truth.copy()
        damaged[damaged == 1] = 0  # spleen missed
        damaged[:5, :5, :5] = 4  # a gallbladder blob in a corner, far from the real gallbladder
        cls.damaged = os.path.join(cls.tmp, "damaged.nii.gz")
        nib.save(nib.Nifti1Image(damaged.astype(np.uint8), seg.affine), cls.damaged)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_batch_with_bad_cases(self):
        truth = str(self.data / "example_seg.nii.gz")
        empty_dicom = os.path.join(self.tmp, "empty_dicom")
        os.makedirs(empty_dicom, exist_ok=True)
        cases = [
            {"case": "perfect", "pred": self.perfect, "label": truth, "source_labels": "totalsegmentator_v2"},
            {"case": "wrong_grid", "pred": self.perfect, "label": str(self.data / "example_seg_dicom.nii.gz")},
            {"case": "unreadable", "pred": self.perfect, "label": empty_dicom},
            {"case": "damaged", "pred": self.damaged, "label": truth},
        ]
        out = os.path.join(self.tmp, "eval")
        summary = evaluate_cases(cases, out, "btcv13", label_source="totalsegmentator_v2")

        self.assertEqual((summary["num_cases"], summary["num_evaluated"], summary["num_failed"]), (4, 2, 2))
        errors = {f["case"]: f["error"] for f in summary["failed"]}
        self.assertIn("example_seg_dicom.nii.gz", errors["wrong_grid"])
        self.assertIn("empty_dicom", errors["unreadable"])
        with open(os.path.join(out, "per_case.csv")) as stream:
            rows = {(r["case"], r["organ"]): r for r in csv.DictReader(stream)}
        self.assertEqual(rows[("perfect", "liver")]["dice"], "1.0")
        self.assertEqual(float(rows[("perfect", "liver")]["hd95_mm"]), 0.0)
        self.assertEqual(rows[("perfect", "esophagus")]["status"], "absent")  # absent from both: no 0, no 1
        self.assertEqual(rows[("perfect", "esophagus")]["dice"], "")
        self.assertEqual(rows[("damaged", "spleen")]["status"], "missed")
        self.assertEqual(rows[("damaged", "spleen")]["dice"], "0.0")
        self.assertEqual(rows[("damaged", "spleen")]["hd95_mm"], "")
        self.assertGreater(float(rows[("damaged", "gallbladder")]["hd95_mm"]), 50.0)  # the blob is far: in mm
        self.assertEqual(rows[("unreadable", "")]["status"], "error")

        on_disk = json.loads(open(os.path.join(out, "summary.json")).read())
        self.assertEqual(on_disk["per_organ"]["esophagus"]["absent"], 2)
        self.assertIsNone(on_disk["per_organ"]["esophagus"]["mean_dice"])
        self.assertEqual(on_disk["per_organ"]["spleen"]["mean_dice"], 0.5)  # perfect 1, missed 0
        self.assertEqual(on_disk["per_organ"]["spleen"]["mean_hd95_mm"], 0.0)  # over present cases only

    def test_command_line(self):
        """``python -m meddisseg_monai.evaluation.ct``: predictions found by name next to a datalist's cases."""
        predictions = os.path.join(self.tmp, "predictions")
        os.makedirs(predictions, exist_ok=True)
        shutil.copyfile(self.perfect, prediction_path("example_ct_sm.nii.gz", predictions))
        datalist = os.path.join(self.tmp, "datalist.json")
        case = {"image": "example_ct_sm.nii.gz", "label": "example_seg.nii.gz", "source_labels": "totalsegmentator_v2"}
        with open(datalist, "w") as stream:
            json.dump({"validation": [case]}, stream)
        out = os.path.join(self.tmp, "cli")
        args = ["--datalist", datalist, "--dataset_dir", str(self.data), "--predictions", predictions]
        self.assertEqual(main(args + ["--output_dir", out]), 0)
        self.assertEqual(json.loads(open(os.path.join(out, "summary.json")).read())["mean_dice"], 1.0)


if __name__ == "__main__":
    unittest.main()
