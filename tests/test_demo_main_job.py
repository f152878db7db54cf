"""The README's main job (``python -m meddisseg_monai.demo``) end to end on synthetic images: every bundle workflow
runs as its own ``python -m monai.bundle run`` process, and the demo writes its summary, the learning-curve and the
contact-sheet PNGs, the evaluation of the trained and the untrained network, and the inference masks."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.utils import REPO_ROOT


@pytest.mark.slow
class TestDemoMainJob(unittest.TestCase):
    def test_synthetic_end_to_end(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "demo"
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "meddisseg_monai.demo",
                    "--output_dir",
                    str(out),
                    "--source",
                    "synthetic",
                    "--image_size",
                    "32",
                    "--stage1_epochs",
                    "1",
                    "--stage2_epochs",
                    "2",
                    "--train_images",
                    "4",
                    "--validation_images",
                    "2",
                    "--batch_size",
                    "2",
                    "--num_workers",
                    "0",
                    "--figure_images",
                    "3",
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])
            summary = json.loads((out / "demo_summary.json").read_text())
            self.assertEqual(summary["test_images"], 8)
            for run, eval_dir in (("trained", "eval"), ("untrained", "eval_untrained")):
                report = json.loads((out / eval_dir / "metrics_summary.json").read_text())["per_image"]
                self.assertEqual(summary[run]["dice"], report["dice"]["mean"], f"{run}: the figure of its evaluation")
            # the from-scratch recipe: every parameter group of Stage II at 1e-3
            last = torch.load(out / "models" / "last.pt", map_location="cpu", weights_only=False)
            self.assertEqual([g["lr"] for g in last["optimizer"]["param_groups"]], [1e-3, 1e-3])
            self.assertEqual(
                set(summary["seconds"]),
                {"stage1", "stage2", "evaluate", "evaluate_untrained", "inference", "after_training"},
            )
            for figure in ("learning_curve", "contact_sheet"):
                with Image.open(summary["figures"][figure]) as image:
                    self.assertEqual(image.format, "PNG")
            self.assertEqual(len(list((out / "inference" / "masks").glob("*.png"))), 3)
            history = json.loads((out / "logs" / "stage2" / "history.json").read_text())["epochs"]
            self.assertEqual([e["epoch"] for e in history], [1, 2])
            self.assertIn("test images (8): mDSC", result.stdout)


if __name__ == "__main__":
    unittest.main()
