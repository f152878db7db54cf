"""Label sets, label sources and bundle inputs of the CT bundle (meddisseg_monai.data.ct)."""

from __future__ import annotations

import json
import os
import tempfile
import unittest

from parameterized import parameterized

from meddisseg_monai.data.ct import (
    LABEL_SETS,
    channel_def,
    label_lookup_table,
    load_ct_cases,
    num_classes,
    organ_names,
    resolve_ct_inputs,
)
from tests.utils import shared_data_path

# (label_set, source, {source id: expected class})
LOOKUP_CASES = [
    [
        "btcv13",
        "totalsegmentator_v2",
        {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 15: 5, 5: 6, 6: 7, 52: 8, 63: 9, 64: 10, 7: 11, 8: 12, 9: 13},
    ],
    ["synapse8", "totalsegmentator_v2", {52: 1, 4: 2, 3: 3, 2: 4, 5: 5, 7: 6, 1: 7, 6: 8, 15: 0, 63: 0, 8: 0, 117: 0}],
    ["synapse8", "btcv13", {8: 1, 4: 2, 3: 3, 2: 4, 6: 5, 11: 6, 1: 7, 7: 8, 5: 0, 9: 0, 13: 0}],
    ["btcv13", "btcv13", {i: i for i in range(14)}],
    ["synapse8", "synapse8", {i: i for i in range(9)}],
]


class TestLabelSets(unittest.TestCase):
    @parameterized.expand([["synapse8", 9], ["btcv13", 14]])
    def test_sizes_and_channel_def(self, label_set, classes):
        self.assertEqual(num_classes(label_set), classes)
        definition = channel_def(label_set)
        self.assertEqual(definition["0"], "background")
        self.assertEqual([definition[str(i + 1)] for i in range(classes - 1)], list(organ_names(label_set)))

    @parameterized.expand(LOOKUP_CASES)
    def test_lookup(self, label_set, source, expected):
        table = label_lookup_table(label_set, source)
        for source_id, target in expected.items():
            self.assertEqual(int(table[source_id]), target, f"{source} id {source_id}")

    def test_ids_match_shared_labels_json(self):
        """The TotalSegmentator ids and organ orders agree with the data's own labels.json."""
        labels = json.loads(shared_data_path("CT-TotalSegmentator-examples", "labels.json").read_text())
        for organ, source_id in labels["totalsegmentator_v2_ids"].items():
            for label_set, key in (("btcv13", "btcv_13_organs"), ("synapse8", "synapse_8_organs")):
                expected = {name: int(i) for i, name in labels[key].items()}.get(organ, 0)
                self.assertEqual(int(label_lookup_table(label_set, "totalsegmentator_v2")[source_id]), expected)
        self.assertEqual(list(LABEL_SETS["btcv13"]), [labels["btcv_13_organs"][str(i)] for i in range(1, 14)])
        self.assertEqual(list(LABEL_SETS["synapse8"]), [labels["synapse_8_organs"][str(i)] for i in range(1, 9)])

    @parameterized.expand([["btcv14", "totalsegmentator_v2"], ["btcv13", "nnunet"], ["btcv13", {"ids": {"spleen": 1}}]])
    def test_bad_configuration(self, label_set, source):
        with self.assertRaises(ValueError):
            label_lookup_table(label_set, source)


class TestInputs(unittest.TestCase):
    def setUp(self):
        self.data = shared_data_path("CT-TotalSegmentator-examples")

    def test_datalist_paths_join_dataset_dir(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "list.json")
            with open(path, "w") as f:
                json.dump({"training": [{"image": "a.nii.gz", "label": "b.nii.gz", "source_labels": "btcv13"}]}, f)
            (case,) = load_ct_cases(path, "/data/x", "training")
            expected = {"image": "/data/x/a.nii.gz", "label": "/data/x/b.nii.gz", "source_labels": "btcv13"}
            self.assertEqual(case, expected)
            with self.assertRaisesRegex(ValueError, "validation"):
                load_ct_cases(path, "/data/x", "validation")

    def test_resolve_inputs(self):
        dicom = str(self.data / "example_ct_dicom")
        self.assertEqual(resolve_ct_inputs(dicom), [{"image": dicom}])  # a DICOM folder is one volume
        nifti = str(self.data / "example_ct_sm.nii.gz")
        self.assertEqual(resolve_ct_inputs(nifti), [{"image": nifti}])
        volumes = [item["image"] for item in resolve_ct_inputs(str(self.data))]  # a folder of NIfTI files
        self.assertIn(nifti, volumes)
        self.assertTrue(all(v.endswith(".nii.gz") for v in volumes))
        with self.assertRaisesRegex(FileNotFoundError, "missing.nii.gz"):
            resolve_ct_inputs(str(self.data / "missing.nii.gz"))

    def test_shipped_datalists_point_at_real_files(self):
        bundle = os.path.join(os.path.dirname(__file__), "..", "..", "bundle", "meddisseg_ct_segmentation")
        datalist = os.path.join(bundle, "data_lists", "totalsegmentator_examples.json")
        for key in ("training", "validation", "test"):
            for case in load_ct_cases(datalist, self.data, key):
                self.assertTrue(os.path.exists(case["image"]), case)
                self.assertTrue(os.path.exists(case["label"]), case)
        synapse = os.path.join(bundle, "data_lists", "synapse_transunet_split.json")
        self.assertEqual(len(load_ct_cases(synapse, "/synapse", "training")), 18)
        self.assertEqual(len(load_ct_cases(synapse, "/synapse", "test")), 12)
        sources = {case["source_labels"] for case in load_ct_cases(synapse, "/s", "test")}
        self.assertEqual(sources, {"btcv13"})


if __name__ == "__main__":
    unittest.main()
