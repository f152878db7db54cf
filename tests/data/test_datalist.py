from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
from parameterized import parameterized
from PIL import Image

from meddisseg_monai.data import (
    DATASETS,
    DatalistError,
    carve_validation,
    get_dataset,
    inference_datalist,
    load_datalist,
    pair_images_and_masks,
    write_datalist,
)
from tests.utils import REPO_ROOT, kvasir_datalist, shared_data_path

# datalist in data_lists/, expected sizes (training, validation, test), dataset folder (None: not available here)
DATALISTS = [
    ["kvasir_seg.json", (880, 120, 120), "Kvasir-SEG"],
    ["kvasir_seg_holdout.json", (792, 88, 120), "Kvasir-SEG"],
    ["kvasir_sessile.json", (156, 20, 20), "Kvasir-SEG"],
    ["kvasir_sessile_outside_kvasir_seg_train.json", (0, 0, 25), "Kvasir-SEG"],
    ["glas.json", (85, 80, 80), "GlaS"],
    ["glas_holdout.json", (77, 8, 80), "GlaS"],
    ["isic2016.json", (900, 379, 379), None],
    ["isic2016_holdout.json", (810, 90, 379), None],
    ["isic2016_in_isic2017.json", (749, 305, 305), "ISIC-2017"],
    ["isic2017.json", (2000, 150, 600), "ISIC-2017"],
]


def _write_pairs(folder: Path, names: list[str], mask_suffix: str = "", mask_ext: str = ".png") -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((16, 24, 3), 90, np.uint8)).save(folder / "images" / f"{name}.jpg")
        mask = np.zeros((16, 24), np.uint8)
        mask[4:8, 4:8] = 255
        Image.fromarray(mask).save(folder / "masks" / f"{name}{mask_suffix}{mask_ext}")


class TestShippedDatalists(unittest.TestCase):
    @parameterized.expand(DATALISTS)
    def test_sizes_and_files(self, name, sizes, folder):
        content = json.loads((REPO_ROOT / "data_lists" / name).read_text())
        self.assertEqual(tuple(len(content.get(s, [])) for s in ("training", "validation", "test")), sizes)
        self.assertTrue(content["protocol"])
        train_images = {e["image"] for e in content.get("training", [])}
        self.assertFalse(train_images & {e["image"] for e in content["test"]}, "training and test overlap")
        if "holdout" in name:
            self.assertFalse(train_images & {e["image"] for e in content["validation"]})
        if folder is None:
            return
        dataset_dir = shared_data_path(folder)
        for split in ("training", "validation") if "training" in content else ("test",):  # no ISIC-2017 test masks here
            for entry in content[split][:: max(1, len(content[split]) // 5)]:
                self.assertTrue((dataset_dir / entry["image"]).is_file(), entry)
                self.assertTrue((dataset_dir / entry["label"]).is_file(), entry)

    def test_official_builder_reproduces_shipped_lists(self):
        root = shared_data_path()
        with tempfile.TemporaryDirectory() as out:
            from meddisseg_monai.data import build_official_datalists

            build_official_datalists(root, out)
            for name, _, _ in DATALISTS:
                self.assertEqual((Path(out) / name).read_text(), (REPO_ROOT / "data_lists" / name).read_text(), name)


class TestLoadDatalist(unittest.TestCase):
    def test_real_kvasir(self):
        with tempfile.TemporaryDirectory() as tmp:
            datalist, folder = kvasir_datalist(Path(tmp) / "list.json")
            items = load_datalist(datalist, "training", folder)
            self.assertEqual(len(items), 6)
            self.assertTrue(all(os.path.isabs(i["image"]) and os.path.isfile(i["label"]) for i in items))

    def test_missing_split_and_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _write_pairs(tmp, ["a", "b"])
            entries = [
                {"image": "images/a.jpg", "label": "masks/a.png"},
                {"image": "images/zz.jpg", "label": "masks/b.png"},
            ]
            datalist = write_datalist(tmp / "d.json", {"training": entries})
            with self.assertRaisesRegex(DatalistError, "no 'validation' list"):
                load_datalist(datalist, "validation", tmp)
            with self.assertRaisesRegex(DatalistError, "zz.jpg: image file not found"):
                load_datalist(datalist, "training", tmp)
            self.assertEqual(len(load_datalist(datalist, "training", tmp, check=False)), 2)
            with self.assertRaisesRegex(FileNotFoundError, "--datalist"):
                load_datalist(tmp / "absent.json", "training", tmp)
            with self.assertRaisesRegex(FileNotFoundError, "--dataset_dir"):
                load_datalist(datalist, "training", tmp / "absent")


class TestBuilders(unittest.TestCase):
    def test_pair_and_carve(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _write_pairs(tmp, [f"n{i}" for i in range(10)], mask_suffix="_segmentation")
            entries = pair_images_and_masks(tmp / "images", tmp / "masks", tmp, mask_suffix="_segmentation")
            self.assertEqual(entries[0], {"image": "images/n0.jpg", "label": "masks/n0_segmentation.png"})
            kept, validation = carve_validation(entries, 0.2, seed=1)
            self.assertEqual((len(kept), len(validation)), (8, 2))
            self.assertEqual(carve_validation(entries, 0.2, seed=1), (kept, validation))
            (tmp / "images" / "lonely.jpg").write_bytes((tmp / "images" / "n0.jpg").read_bytes())
            with self.assertRaisesRegex(DatalistError, "lonely.jpg"):
                pair_images_and_masks(tmp / "images", tmp / "masks", tmp, mask_suffix="_segmentation")

    def test_cli_build_and_check(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _write_pairs(tmp, [f"n{i}" for i in range(10)])
            cli = [sys.executable, "-m", "meddisseg_monai.data.datalist_cli"]
            out = subprocess.run(
                cli
                + [
                    "build",
                    "--images_dir",
                    str(tmp / "images"),
                    "--masks_dir",
                    str(tmp / "masks"),
                    "--output",
                    str(tmp / "list.json"),
                    "--val_fraction",
                    "0.2",
                    "--test_fraction",
                    "0.1",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            self.assertIn(f"--dataset_dir {tmp}", out)
            content = json.loads((tmp / "list.json").read_text())
            self.assertEqual([len(content[k]) for k in ("training", "validation", "test")], [7, 2, 1])
            checked = subprocess.run(
                cli + ["check", str(tmp / "list.json"), "--dataset_dir", str(tmp)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            self.assertIn("training: 7 entries OK", checked)


class TestInferenceDatalist(unittest.TestCase):
    def test_file_folder_and_datalist(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _write_pairs(tmp, ["a", "b"])
            (tmp / "images" / "sub").mkdir()
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp / "images" / "sub" / "c.png")
            self.assertEqual(len(inference_datalist(tmp / "images" / "a.jpg")), 1)
            self.assertEqual(
                [Path(i["image"]).name for i in inference_datalist(tmp / "images")], ["a.jpg", "b.jpg", "c.png"]
            )
            datalist = write_datalist(tmp / "d.json", {"test": [{"image": "images/a.jpg"}]})
            self.assertEqual(len(inference_datalist(None, datalist, tmp, "test")), 1)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp / "images" / "sub" / "a.png")
            # same stem in two folders: both kept (outputs get unique names through OutputNames)
            self.assertEqual(len(inference_datalist(tmp / "images")), 4)
            with self.assertRaisesRegex(ValueError, "--input"):
                inference_datalist()


class TestRegistry(unittest.TestCase):
    @parameterized.expand([[name] for name in DATASETS])
    def test_datalist_exists(self, name):
        self.assertTrue((REPO_ROOT / "data_lists" / get_dataset(name).datalist).is_file())

    def test_lookup(self):
        self.assertEqual(get_dataset("Kvasir-SEG").mask_threshold, 127)
        self.assertEqual(get_dataset("glas").mask_threshold, 0)
        with self.assertRaisesRegex(ValueError, "choose one of"):
            get_dataset("cityscapes")


if __name__ == "__main__":
    unittest.main()
