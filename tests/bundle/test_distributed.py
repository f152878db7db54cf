"""Distributed training and evaluation of the 2D bundle, and distributed evaluation of the CT bundle:
``torchrun --standalone --nproc_per_node=2`` with Gloo on the CPU, one epoch of Stage I and of Stage II on a few
real Kvasir-SEG images at 64^2, as a user runs ``multi_gpu_train.json`` / ``multi_gpu_evaluate.json``."""

from __future__ import annotations

import json
import shutil
import tempfile
import unittest
from pathlib import Path

import pytest

from tests.bundle.test_meddisseg_ct_segmentation import BUNDLE as CT_BUNDLE
from tests.bundle.test_meddisseg_ct_segmentation import SMALL as CT_SMALL
from tests.bundle.test_meddisseg_ct_segmentation import random_checkpoint
from tests.utils import (
    checked_output,
    prepare_kvasir_run,
    run_bundle,
    run_bundle_distributed,
    shared_data_path,
)

TRAIN_STAGE1 = ["train.json", "train_stage1.json", "multi_gpu_train.json"]
TRAIN = ["train.json", "multi_gpu_train.json"]
EVALUATE = ["train.json", "evaluate.json"]
EVALUATE_DISTRIBUTED = ["train.json", "evaluate.json", "multi_gpu_evaluate.json"]


@pytest.mark.slow
class TestDistributedBundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # 8 training images (4 per rank), 3 validation and 5 test images (uneven shards: 2 + 1 and 3 + 2)
        prepare_kvasir_run(cls, train=8, validation=3, test=5)
        checked_output(  # Stage I (two forward passes per step under DDP), whose encoder Stage II starts from
            run_bundle_distributed(TRAIN_STAGE1, *cls.common, "--epochs", "1", "--progress_bar", "false"),
            "torchrun multi_gpu_train Stage I",
        )
        cls.train_log = checked_output(
            run_bundle_distributed(
                TRAIN, *cls.common, "--epochs", "1", "--record_samples", "true", "--progress_bar", "false"
            ),
            "torchrun multi_gpu_train",
        )
        cls.distributed_eval_log = checked_output(
            run_bundle_distributed(EVALUATE_DISTRIBUTED, *cls.common, "--eval_dir", str(cls.tmp / "eval_2ranks")),
            "torchrun multi_gpu_evaluate",
        )
        checked_output(run_bundle(EVALUATE, *cls.common, "--eval_dir", str(cls.tmp / "eval_1rank")), "evaluate")

    def test_ranks_saw_disjoint_training_samples(self):
        log_dir = self.out / "logs" / "stage2"
        seen = {}
        for rank in (0, 1):
            records = [json.loads(line) for line in (log_dir / f"samples_rank{rank}.jsonl").read_text().splitlines()]
            self.assertEqual([r["epoch"] for r in records], [1])
            seen[rank] = [Path(name).name for name in records[0]["images"]]
            self.assertEqual(len(seen[rank]), 4, seen[rank])
        self.assertFalse(set(seen[0]) & set(seen[1]), seen)
        training = {Path(e["image"]).name for e in json.loads(self.datalist.read_text())["training"]}
        self.assertEqual(set(seen[0]) | set(seen[1]), training)

    def test_one_checkpoint_written(self):
        names = sorted(p.name for p in (self.out / "models").iterdir())
        # each best model has its training record (stage, image size, score) beside it
        self.assertEqual(
            names, ["last.pt", "last_stage1.pt", "model.json", "model.pt", "model_stage1.json", "model_stage1.pt"]
        )

    def test_rank0_logs_only(self):
        # one trainer and one evaluator StatsHandler, on rank 0: rank 1 would double both
        self.assertEqual(self.train_log.count("Epoch[1] Metrics -- train_mean_dice"), 1, self.train_log[-3000:])
        self.assertEqual(self.train_log.count("Key metric: val_mean_dice best value"), 1, self.train_log[-3000:])
        self.assertEqual(self.distributed_eval_log.count("metrics: "), 1)

    def test_distributed_evaluation_equals_single_process(self):
        def per_image(folder: str) -> dict:
            rows = json.loads((self.tmp / folder / "metrics_per_image.json").read_text())
            return {row["image"]: row for row in rows}

        single, distributed = per_image("eval_1rank"), per_image("eval_2ranks")
        self.assertEqual(len(single), 5)
        self.assertEqual(set(single), set(distributed))
        for image, row in single.items():
            for column in ("iou", "dice", "recall", "precision", "dice_source_size"):
                self.assertAlmostEqual(row[column], distributed[image][column], places=5, msg=(image, column))
        summaries = [
            json.loads((self.tmp / f / "metrics_summary.json").read_text()) for f in ("eval_1rank", "eval_2ranks")
        ]
        self.assertEqual(summaries[1]["num_images"], 5)
        for name, value in summaries[0]["aggregated"].items():  # float32 means summed in another order: relative
            self.assertAlmostEqual(value, summaries[1]["aggregated"][name], delta=1e-6 * max(1.0, abs(value)), msg=name)


@pytest.mark.slow
class TestDistributedCTEvaluation(unittest.TestCase):
    """The CT bundle's ``multi_gpu_evaluate.json``: 3 cases over 2 ranks (2 + 1) give the single process's report."""

    def test_distributed_report_equals_single_process(self):
        data = shared_data_path("CT-TotalSegmentator-examples")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            cases = []
            for name in ("a", "b", "c"):  # the same volume under three names: one row each
                (tmp / name).mkdir()
                shutil.copy(data / "example_ct_sm.nii.gz", tmp / name / "ct.nii.gz")
                cases.append(
                    {
                        "image": f"{tmp / name / 'ct.nii.gz'}",
                        "label": str(data / "example_seg.nii.gz"),
                        "source_labels": "totalsegmentator_v2",
                    }
                )
            datalist = tmp / "datalist.json"
            datalist.write_text(json.dumps({"training": cases[:1], "validation": cases}))
            random_checkpoint(tmp / "model.pt")
            args = []
            common = {
                **CT_SMALL,
                "dataset_dir": str(tmp),
                "datalist": str(datalist),
                "num_workers": 0,
                "cache_rate": 0,
                "ckpt_path": str(tmp / "model.pt"),
            }
            for key, value in common.items():
                args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
            configs = ["train.json", "evaluate.json"]
            one, two = ["--output_dir", str(tmp / "one")], ["--output_dir", str(tmp / "two")]
            checked_output(run_bundle(configs, *args, *one, bundle_root=CT_BUNDLE), "evaluate")
            distributed = [*configs, "multi_gpu_evaluate.json"]
            checked_output(
                run_bundle_distributed(distributed, *args, *two, bundle_root=CT_BUNDLE), "torchrun multi_gpu_evaluate"
            )
            rows = {
                folder: {r["image"]: r for r in json.loads((tmp / folder / "metrics_per_image.json").read_text())}
                for folder in ("one", "two")
            }
            provenance = json.loads((tmp / "two" / "provenance.json").read_text())
        self.assertEqual(len(rows["one"]), 3)
        self.assertEqual(set(rows["one"]), set(rows["two"]))
        for image, row in rows["one"].items():
            self.assertEqual(list(row), list(rows["two"][image]))
            for column, value in row.items():
                if column != "image":
                    self.assertEqual(value is None, rows["two"][image][column] is None, (image, column))
                    if value is not None:
                        self.assertAlmostEqual(value, rows["two"][image][column], places=5, msg=(image, column))
        self.assertEqual(provenance["device"], "cpu")


if __name__ == "__main__":
    unittest.main()
