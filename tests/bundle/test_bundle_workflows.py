"""End to end through ``python -m monai.bundle run``, as a user runs it: Stage I -> Stage II -> evaluate -> inference
on a few real Kvasir-SEG images at 64^2 for one epoch, then resuming, and bad inputs found before training."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import unittest
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from meddisseg_monai.utils import resolve_autocast
from tests.utils import (
    PROVENANCE_FIELDS,
    REPORT_COLUMNS,
    checked_output,
    prepare_kvasir_run,
    run_bundle,
)

STAGE1 = ["train.json", "train_stage1.json"]
STAGE2 = ["train.json"]
EVALUATE = ["train.json", "evaluate.json"]
INFERENCE = ["inference.json"]


@pytest.mark.slow
class TestBundleWorkflows(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prepare_kvasir_run(cls, train=6, validation=2, test=3)
        cls.logs = {
            "stage1": checked_output(run_bundle(STAGE1, *cls.common, "--epochs", "1"), "Stage I"),
            "stage2": checked_output(
                run_bundle(STAGE2, *cls.common, "--epochs", "1", "--progress_bar", "false"), "Stage II"
            ),
            "evaluate": checked_output(run_bundle(EVALUATE, *cls.common, "--save_masks", "true"), "evaluate"),
        }
        # inference on a folder: three test images, a grayscale and an RGBA copy (made RGB, as documented), a wide one
        cls.inputs = cls.tmp / "inputs"
        cls.inputs.mkdir()
        test_images = [Path(e["image"]) for e in json.loads(cls.datalist.read_text())["test"]]
        for image in test_images:
            shutil.copy(cls.dataset_dir / image, cls.inputs / image.name)
        source = Image.open(cls.dataset_dir / test_images[0])
        source.convert("L").save(cls.inputs / "gray_case.png")
        source.convert("RGBA").save(cls.inputs / "rgba_case.png")
        # wide and large: averaged down on one axis first (ShrinkLarged), masks still at the source size
        source.convert("RGB").resize((2100, 400)).save(cls.inputs / "wide_case.jpg")
        cls.logs["inference"] = checked_output(
            run_bundle(
                INFERENCE,
                *cls.common,
                "--input",
                str(cls.inputs),
                "--save_probabilities",
                "true",
                "--save_uncertainty",
                "true",
            ),
            "inference",
        )

    def test_checkpoints(self):
        models = self.out / "models"
        for name in ("model_stage1.pt", "last_stage1.pt", "model.pt", "last.pt"):
            self.assertTrue((models / name).is_file(), name)
        last = torch.load(models / "last.pt", map_location="cpu", weights_only=True)
        self.assertEqual(set(last), {"model", "optimizer", "lr_scheduler", "trainer", "best_checkpoint", "early_stop"})
        self.assertEqual(
            last["trainer"]["epoch"] if "epoch" in last["trainer"] else last["trainer"]["iteration"] // 3, 1
        )
        self.assertEqual(len(last["optimizer"]["param_groups"]), 2, "Stage II trains the encoder in its own group")
        best = torch.load(models / "model.pt", map_location="cpu", weights_only=True)
        self.assertTrue(all(isinstance(v, torch.Tensor) for v in best.values()), "model.pt is a plain state dict")
        self.assertTrue(any(Path(self.out / "logs" / "stage2").glob("events.out.tfevents.*")))

    def test_stage2_starts_from_stage1_encoder(self):
        stage1 = torch.load(self.out / "models" / "model_stage1.pt", map_location="cpu", weights_only=True)
        stage2 = torch.load(self.out / "models" / "model.pt", map_location="cpu", weights_only=True)
        weights = [k for k in stage1 if k.startswith("encoder.") and k.endswith("weight")]
        self.assertTrue(weights)
        for key in weights:  # one epoch (3 Adam steps at the encoder learning rate, 1e-4) barely moves them
            self.assertLess(float((stage2[key] - stage1[key]).abs().max()), 1e-3, key)

    def test_every_loss_term_logged(self):
        for term in ("mask", "foreground", "background", "complementary", "dispersive"):
            self.assertIn(f"{term}: ", self.logs["stage2"])
        for term in ("consistency", "dispersive_augmented", "mask_augmented"):
            self.assertIn(f"{term}: ", self.logs["stage1"])
        self.assertIn("val_mean_dice", self.logs["stage2"])
        self.assertIn("val_loss", self.logs["stage2"])

    def test_evaluation_reports(self):
        eval_dir = self.out / "eval"
        with open(eval_dir / "metrics_per_image.csv") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 3)
        for row in rows:
            for column in ("iou", "dice", "recall", "precision"):
                self.assertTrue(0.0 <= float(row[column]) <= 1.0, row)
            self.assertTrue(row["image"].endswith(".jpg"))
            dice = float(row["dice_source_size"])
            self.assertTrue(np.isnan(dice) or 0.0 <= dice <= 1.0)
        summary = json.loads((eval_dir / "metrics_summary.json").read_text())
        self.assertEqual(summary["num_images"], 3)
        self.assertIn("hd95_source_size", summary["per_image"])
        self.assertTrue(
            (eval_dir / "metrics_per_image.json").is_file() and (eval_dir / "metrics_summary.csv").is_file()
        )
        self.assertEqual(list(rows[0]), REPORT_COLUMNS)  # the CT bundle's columns (tests/bundle/test_meddisseg_ct_...)
        self.assertEqual(set(summary["conventions"]), set(REPORT_COLUMNS[1:]) | {"val_mean_dice", "val_mean_iou"})
        provenance = json.loads((eval_dir / "provenance.json").read_text())
        self.assertEqual(set(provenance), PROVENANCE_FIELDS)
        checkpoint = self.out / "models" / "model.pt"
        self.assertEqual(provenance["checkpoint"]["sha256"], hashlib.sha256(checkpoint.read_bytes()).hexdigest())
        self.assertEqual(provenance["datalist"]["sha256"], hashlib.sha256(self.datalist.read_bytes()).hexdigest())
        self.assertEqual(provenance["precision"]["used"], resolve_autocast("auto", provenance["device"]) or "fp32")
        self.assertEqual(provenance["config"]["overrides"]["save_masks"], "true")  # as fire passes it
        self.assertIsNotNone(provenance["versions"]["bundle"])
        for row in rows:  # masks at the source size, named after the source
            name = Path(row["image"]).stem
            mask = Image.open(eval_dir / "masks" / f"{name}.png")
            self.assertEqual(mask.size, Image.open(row["image"]).size)

    def test_inference_outputs(self):
        inference = self.out / "inference"
        sources = sorted(self.inputs.iterdir())
        for folder, mode in (("masks", "L"), ("overlays", "RGB"), ("probabilities", "L"), ("uncertainty", "L")):
            written = sorted((inference / folder).iterdir())
            self.assertEqual([p.stem for p in written], [s.stem for s in sources], folder)
            for path, source in zip(written, sources):
                image = Image.open(path)
                self.assertEqual(image.size, Image.open(source).size, path)
                self.assertEqual(image.mode, mode, path)
        mask_values = np.unique(np.asarray(Image.open(inference / "masks" / f"{sources[0].stem}.png")))
        self.assertTrue(set(mask_values.tolist()) <= {0, 255})
        self.assertIn("masks:", self.logs["inference"])

    def test_resume(self):
        result = checked_output(
            run_bundle(STAGE1, *self.common, "--epochs", "2", "--progress_bar", "false"), "Stage I resume"
        )
        self.assertIn("Restored all variables from", result)
        self.assertIn("Epoch: 2/2", result)
        self.assertNotIn("Epoch: 1/2", result)
        last = torch.load(self.out / "models" / "last_stage1.pt", map_location="cpu", weights_only=True)
        self.assertEqual(last["trainer"]["iteration"], 6)

    def test_bad_datalist_fails_before_training(self):
        content = json.loads(self.datalist.read_text())
        first = content["training"][0]
        content["training"] += [
            {"image": "images/not_there.jpg", "label": "masks/not_there.jpg"},
            {"image": first["image"], "label": content["validation"][0]["label"]},  # another image's mask: size differs
        ]
        bad = self.tmp / "bad.json"
        bad.write_text(json.dumps(content))
        args = [a if a != str(self.datalist) else str(bad) for a in self.common]
        args[args.index(str(self.out))] = str(self.tmp / "bad_run")
        result = run_bundle(STAGE1, *args, "--epochs", "1")
        output = result.stdout + result.stderr
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("not_there.jpg: image file not found", output)
        self.assertIn("but its mask", output)
        self.assertNotIn("Epoch: 1/1", output)


if __name__ == "__main__":
    unittest.main()
