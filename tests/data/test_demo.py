from __future__ import annotations

import os
import tempfile
import unittest
from pathlib import Path

import numpy as np
from parameterized import parameterized
from PIL import Image

from meddisseg_monai.data import DATA_ROOT_ENV, load_datalist
from meddisseg_monai.data.demo import kvasir_subset, prepare_demo_data, synthetic_dataset
from tests.utils import BUNDLE_ROOT, shared_data_path

SPLITS = [["training", 4], ["validation", 2], ["test", 1]]


class TestDemoData(unittest.TestCase):
    @parameterized.expand(SPLITS)
    def test_synthetic(self, split, count):
        with tempfile.TemporaryDirectory() as tmp:
            datalist = synthetic_dataset(tmp, train=4, validation=2, test=1, size=(48, 64))
            items = load_datalist(datalist, split, tmp)  # decodes and checks every file
            self.assertEqual(len(items), count)
            image = np.asarray(Image.open(items[0]["image"]))
            mask = np.asarray(Image.open(items[0]["label"]))
            self.assertEqual((image.shape, mask.shape), ((48, 64, 3), (48, 64)))
            self.assertEqual(set(np.unique(mask).tolist()), {0, 255})

    def test_prepare_picks_kvasir_when_present(self):
        shared_data_path("Kvasir-SEG")
        with tempfile.TemporaryDirectory() as tmp:
            dataset_dir, datalist = prepare_demo_data(tmp, train=3, validation=1, test=1, bundle_root=str(BUNDLE_ROOT))
            self.assertEqual(Path(dataset_dir).name, "Kvasir-SEG")
            self.assertEqual(len(load_datalist(datalist, "training", dataset_dir)), 3)

    def test_kvasir_split_keeps_validation_and_test_apart(self):
        folder = shared_data_path("Kvasir-SEG")
        with tempfile.TemporaryDirectory() as tmp:
            datalist = kvasir_subset(folder, os.path.join(tmp, "d.json"), train=5, validation=3)
            splits = {
                s: [Path(i["image"]).stem for i in load_datalist(datalist, s, folder, check=False)]
                for s in ("training", "validation", "test")
            }
            train_ids = (folder / "train.txt").read_text().split()
            self.assertEqual(splits["training"], train_ids[:5])
            self.assertEqual(splits["validation"], train_ids[-3:])
            self.assertEqual(splits["test"], (folder / "val.txt").read_text().split())
            self.assertEqual(len(splits["test"]), 120)
            with self.assertRaisesRegex(ValueError, "train.txt has 880"):
                kvasir_subset(folder, os.path.join(tmp, "e.json"), train=880, validation=1)

    def test_prepare_falls_back_to_synthetic(self):
        previous = os.environ.get(DATA_ROOT_ENV)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                os.environ[DATA_ROOT_ENV] = os.path.join(tmp, "no_data_here")
                dataset_dir, datalist = prepare_demo_data(tmp, train=2, validation=1, test=1)
            finally:
                if previous is None:
                    os.environ.pop(DATA_ROOT_ENV, None)
                else:
                    os.environ[DATA_ROOT_ENV] = previous
            self.assertEqual(Path(dataset_dir).name, "synthetic")
            self.assertEqual(len(load_datalist(datalist, "test", dataset_dir)), 1)


if __name__ == "__main__":
    unittest.main()
