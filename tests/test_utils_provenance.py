"""The provenance record beside every metrics file (meddisseg_monai.utils.provenance)."""

from __future__ import annotations

import hashlib
import json
import tempfile
import unittest
from pathlib import Path

from parameterized import parameterized

from meddisseg_monai.utils.provenance import bundle_version, command_line_config, provenance, sha256, write_provenance
from tests.utils import PROVENANCE_FIELDS, REPO_ROOT

BUNDLES = [[name] for name in ("meddisseg_2d_segmentation", "meddisseg_ct_segmentation")]
BUNDLE_MAIN = str(REPO_ROOT / ".venv" / "lib" / "python3" / "site-packages" / "monai" / "bundle" / "__main__.py")
PRECISIONS = [["fp32", "fp32"], [None, "fp32"], ["bf16", "bf16"]]


class TestProvenance(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)
        self.addCleanup(self._tmp.cleanup)

    def test_sha256_of_a_file(self):
        path = self.tmp / "model.pt"
        path.write_bytes(b"weights")
        self.assertEqual(sha256(path), hashlib.sha256(b"weights").hexdigest())
        self.assertIsNone(sha256(None))

    def test_a_missing_file_is_named(self):
        with self.assertRaisesRegex(FileNotFoundError, "not_there.pt: no such file"):
            sha256(self.tmp / "not_there.pt")

    @parameterized.expand(BUNDLES)
    def test_bundle_version_is_the_metadata_version(self, name):
        bundle = REPO_ROOT / "bundle" / name
        expected = json.loads((bundle / "configs" / "metadata.json").read_text())["version"]
        self.assertEqual(bundle_version(bundle), expected)
        self.assertIsNone(bundle_version(self.tmp))

    def test_command_line_config_merges_files_and_overrides(self):
        bundle = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation" / "configs"
        files = [str(bundle / "train.json"), str(bundle / "evaluate.json")]
        argv = [
            BUNDLE_MAIN,
            "run",
            "--config_file",
            repr(files),
            "--spacing",
            "[8.0, 8.0, 8.0]",
            "--tta=true",
            "--output_dir",
            "/tmp/eval",
        ]
        record = command_line_config(argv)
        self.assertEqual(record["config_files"], files)
        # values as fire passes them ("true" stays a string)
        self.assertEqual(record["overrides"], {"spacing": [8.0, 8.0, 8.0], "tta": "true", "output_dir": "/tmp/eval"})
        config = record["config"]
        merged = [config["spacing"], config["tta"], config["output_dir"]]
        self.assertEqual(merged, [[8.0, 8.0, 8.0], "true", "/tmp/eval"])
        self.assertIn("validate", config)  # from train.json
        self.assertIn("prediction_dir", config)  # from evaluate.json
        self.assertIsNone(command_line_config(["pytest", "tests"]))

    @parameterized.expand(PRECISIONS)
    def test_record_fields(self, autocast, used):
        checkpoint, datalist = self.tmp / "model.pt", self.tmp / "datalist.json"
        checkpoint.write_bytes(b"weights")
        datalist.write_text("{}")
        bundle = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
        record = provenance(bundle, checkpoint, datalist, "cpu", autocast, config={"epochs": 1})
        self.assertEqual(set(record), PROVENANCE_FIELDS)
        self.assertEqual(record["precision"]["used"], used)
        self.assertEqual(record["checkpoint"]["sha256"], hashlib.sha256(b"weights").hexdigest())
        self.assertEqual(record["datalist"]["sha256"], hashlib.sha256(b"{}").hexdigest())
        self.assertEqual(record["versions"]["bundle"], bundle_version(bundle))
        self.assertIsNotNone(record["versions"]["meddisseg-monai"])
        self.assertEqual(record["config"], {"epochs": 1})
        path = write_provenance(self.tmp / "eval", record)
        self.assertEqual(json.loads(Path(path).read_text())["device"], "cpu")


if __name__ == "__main__":
    unittest.main()
