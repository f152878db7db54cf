from __future__ import annotations

import csv
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from monai.handlers import HausdorffDistance, IgniteMetricHandler, from_engine
from monai.metrics import DiceMetric
from parameterized import parameterized

from meddisseg_monai.handlers import SegmentationReportWriter, metric_columns, summarise
from meddisseg_monai.metrics import PerImageOverlapMetric

COLUMN_CASES = [
    ["monai_one_channel", "dice_source_size", (5, 1), ["dice_source_size"]],
    ["monai_two_channels", "hd95", (5, 2), ["hd95", "hd95_0", "hd95_1"]],
    ["paper_metric", "val_mean_dice", (5, 1, 4), ["iou", "dice", "recall", "precision"]],
]
CLASS_COLUMN_CASES = [  # the CT bundle's naming: the class mean, then one column per organ
    [
        "monai_per_organ",
        "dice_source_size",
        (3, 2),
        ["dice_source_size", "dice_source_size_liver", "dice_source_size_spleen"],
    ],
    [
        "paper_per_organ",
        "val_mean_dice",
        (3, 2, 4),
        [f"{m}{c}" for m in ("iou", "dice", "recall", "precision") for c in ("", "_liver", "_spleen")],
    ],
]


def _batches() -> list[list[dict]]:
    """Two decollated batches of two images: perfect, half, empty prediction of a mask, empty of empty."""
    truth = torch.zeros(1, 8, 8)
    truth[:, 2:6, 2:6] = 1
    half = torch.zeros(1, 8, 8)
    half[:, 2:4, 2:6] = 1
    pairs = [(truth, truth), (half, truth), (torch.zeros(1, 8, 8), truth), (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))]
    items = [
        {
            "pred": p,
            "label": t,
            "image": MetaTensor(torch.zeros(3, 8, 8), meta={"filename_or_obj": f"/data/img{i}.jpg"}),
        }
        for i, (p, t) in enumerate(pairs)
    ]
    return [items[:2], items[2:]]


class TestReportWriter(unittest.TestCase):
    @parameterized.expand(COLUMN_CASES)
    def test_columns(self, _, name, shape, expected):
        self.assertEqual(list(metric_columns(name, torch.rand(*shape))), expected)

    @parameterized.expand(CLASS_COLUMN_CASES)
    def test_class_columns(self, _, name, shape, expected):
        self.assertEqual(list(metric_columns(name, torch.rand(*shape), ["liver", "spleen"])), expected)

    def test_class_mean_skips_values_that_are_not_finite(self):
        columns = metric_columns("hd95", np.array([[1.0, np.nan, 3.0], [np.inf, np.nan, np.nan]]), ["a", "b", "c"])
        self.assertEqual(columns["hd95"][0], 2.0)
        self.assertTrue(np.isnan(columns["hd95"][1]))

    def test_class_names_must_match_the_channels(self):
        with self.assertRaisesRegex(ValueError, "3 classes but 2 class names"):
            metric_columns("dice", torch.rand(4, 3), ["liver", "spleen"])

    def test_a_metric_without_a_stated_convention_is_refused(self):
        with tempfile.TemporaryDirectory() as out:
            writer = SegmentationReportWriter(out, conventions={"dice_source_size": "stated"})
            with self.assertRaisesRegex(ValueError, r"no empty-mask convention stated for metric\(s\) \['hd95'\]"):
                writer._write(["a.png"], {"dice_source_size": np.ones((1, 1)), "hd95": np.ones((1, 1))}, {})

    def test_summarise_counts_not_finite(self):
        stats = summarise(np.array([1.0, 3.0, np.inf, np.nan]))
        self.assertEqual((stats["count"], stats["not_finite"], stats["mean"], stats["max"]), (2, 2, 2.0, 3.0))

    def test_evaluation_run_writes_csv_and_json(self):
        engine = Engine(lambda engine, batch: batch)
        IgniteMetricHandler(
            metric_fn=PerImageOverlapMetric("dice"), output_transform=from_engine(["pred", "label"])
        ).attach(engine, "val_mean_dice")
        dice = DiceMetric(include_background=True, ignore_empty=False)
        IgniteMetricHandler(metric_fn=dice, output_transform=from_engine(["pred", "label"])).attach(
            engine, "dice_source_size"
        )
        HausdorffDistance(
            include_background=True, percentile=95, output_transform=from_engine(["pred", "label"])
        ).attach(engine, "hd95_source_size")
        with tempfile.TemporaryDirectory() as out:
            SegmentationReportWriter(
                out, metric_details=["val_mean_dice", "dice_source_size", "hd95_source_size"]
            ).attach(engine)
            engine.run(_batches(), max_epochs=1)
            with open(Path(out) / "metrics_per_image.csv") as f:
                rows = list(csv.DictReader(f))
            per_image = json.loads((Path(out) / "metrics_per_image.json").read_text())
            summary = json.loads((Path(out) / "metrics_summary.json").read_text())
            summary_csv = (Path(out) / "metrics_summary.csv").read_text()
        self.assertEqual([r["image"] for r in rows], [f"/data/img{i}.jpg" for i in range(4)])
        self.assertEqual(
            list(rows[0]), ["image", "iou", "dice", "recall", "precision", "dice_source_size", "hd95_source_size"]
        )
        dice = [float(r["dice"]) for r in rows]
        self.assertAlmostEqual(dice[0], 1.0)
        self.assertAlmostEqual(dice[1], 2 * 8 / (8 + 16), places=5)
        self.assertLess(dice[2], 1e-10)
        self.assertAlmostEqual(dice[3], 1.0)  # paper convention: empty of empty scores 1
        # one convention for Dice: empty of empty scores 1 in the paper metric and in MONAI's (ignore_empty=False)
        self.assertAlmostEqual(per_image[3]["dice_source_size"], 1.0)
        self.assertEqual(per_image[2]["dice_source_size"], 0.0)
        self.assertEqual(
            set(summary["conventions"]),
            {"iou", "dice", "recall", "precision", "dice_source_size", "hd95_source_size", "val_mean_dice"},
        )
        self.assertIn("empty in both the truth and the prediction scores 1", summary["conventions"]["dice_source_size"])
        self.assertEqual(summary["num_images"], 4)
        self.assertAlmostEqual(summary["per_image"]["dice"]["mean"], float(np.mean(dice)), places=5)
        self.assertAlmostEqual(summary["aggregated"]["val_mean_dice"], float(np.mean(dice)), places=5)
        self.assertGreaterEqual(summary["per_image"]["hd95_source_size"]["not_finite"], 1)
        self.assertTrue(summary_csv.startswith("metric,mean,std,median,min,max,count,not_finite"))


if __name__ == "__main__":
    unittest.main()
