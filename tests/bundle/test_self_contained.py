"""A bundle copied out of the repository (as MONAI Label and ``monai.bundle download`` place it) has no default data
paths: a workflow run without them stops before any work, naming the option to pass.

That the copied bundles *run* given ``--dataset_dir`` and ``--datalist`` is what every other bundle test shows:
:func:`tests.utils.run_bundle` runs them from such a copy (train, evaluate and inference of both bundles).
"""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from unittest import mock

from parameterized import parameterized

from meddisseg_monai.data import default_datalist, default_dataset_dir, source_checkout
from tests.utils import BUNDLE_ROOT, REPO_ROOT, bundle_copy, run_bundle

CT_BUNDLE = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"
CPU = ("--device", "cpu")


class TestCopiedBundleNamesTheMissingOption(unittest.TestCase):
    @parameterized.expand(
        [
            ["2d_inference", BUNDLE_ROOT, ["inference.json"], [], "pass --input (an image or a folder), or --datalist"],
            [
                "2d_evaluate",
                BUNDLE_ROOT,
                ["train.json", "evaluate.json"],
                [],
                "no datalist given: pass --datalist PATH",
            ],
            ["2d_train_without_folder", BUNDLE_ROOT, ["train.json"], ["--datalist", "DATALIST"], "pass --dataset_dir"],
            ["ct_train", CT_BUNDLE, ["train.json"], [], "pass --dataset_dir PATH"],
            ["ct_evaluate", CT_BUNDLE, ["train.json", "evaluate.json"], [], "pass --dataset_dir PATH"],
        ]
    )
    def test_stops_naming_the_option(self, _, bundle, configs, args, message):
        datalist = REPO_ROOT / "data_lists" / "kvasir_seg.json"
        args = [str(datalist) if a == "DATALIST" else a for a in args]
        result = run_bundle(configs, *args, *CPU, bundle_root=bundle, timeout=300)
        self.assertNotEqual(result.returncode, 0)
        last = result.stderr.strip().splitlines()[-1]
        self.assertIn("MissingDataOptionError", last)
        self.assertIn(message, last)
        self.assertFalse(any((bundle_copy(bundle) / "models").iterdir()), "nothing written before the error")


class TestDefaultLocations(unittest.TestCase):
    def test_inside_the_checkout(self):
        self.assertEqual(source_checkout(BUNDLE_ROOT), REPO_ROOT)
        self.assertEqual(
            Path(default_datalist(BUNDLE_ROOT, "kvasir_seg.json")), REPO_ROOT / "data_lists" / "kvasir_seg.json"
        )
        self.assertIsNone(default_datalist(BUNDLE_ROOT, "no_such_list.json"))

    def test_outside_the_checkout(self):
        copy = bundle_copy(BUNDLE_ROOT)
        self.assertIsNone(source_checkout(copy))
        self.assertIsNone(default_datalist(copy, "kvasir_seg.json"))
        with mock.patch.dict("os.environ", {}, clear=False) as environ:
            environ.pop("MEDDISSEG_DATA_ROOT", None)
            self.assertIsNone(default_dataset_dir(copy, "Kvasir-SEG"))
            environ["MEDDISSEG_DATA_ROOT"] = "/data/root"
            self.assertEqual(default_dataset_dir(copy, "Kvasir-SEG"), "/data/root/Kvasir-SEG")

    def test_a_folder_named_bundle_is_not_a_checkout(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = Path(tmp) / "bundle" / "meddisseg_2d_segmentation"
            fake.mkdir(parents=True)
            (Path(tmp) / "data_lists").mkdir()
            self.assertIsNone(source_checkout(fake))


if __name__ == "__main__":
    unittest.main()
