"""Share of the 2D bundle's training and validation time spent waiting for data, in the engines' event handlers
(metrics, checkpoints, logging) and in the iteration itself (network, loss, optimiser).

Runs the real ``configs/train.json`` workflow (the bundle's CacheDataset, DataLoader, transforms, handlers) on the first
images of Kvasir-SEG's official split, with Ignite's ``BasicTimeProfiler`` attached to the trainer and the evaluator.
Ignite's "dataflow" time is the time an engine waits for its next batch (loading, the random transforms that the
cache cannot hold, collation, the DataLoader's workers); "event handlers" is every handler's time (metrics,
checkpoints, logging; for the trainer without the validation run, reported apart); "processing" is the iteration.

Usage::

    .venv/bin/python benchmarks/data_pipeline_share.py --image_size 64 --epochs 2
    .venv/bin/python benchmarks/data_pipeline_share.py --image_size 256 --train_images 16 --epochs 1 --num_workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from ignite.handlers.time_profilers import BasicTimeProfiler, HandlersTimeProfiler
from monai.bundle import ConfigWorkflow

from meddisseg_monai.data import DATA_ROOT_ENV
from meddisseg_monai.data.demo import kvasir_subset
from meddisseg_monai.utils import describe_precision

BUNDLE = Path(__file__).resolve().parents[1] / "bundle" / "meddisseg_2d_segmentation"


def shares(profiler: BasicTimeProfiler) -> dict:
    """Totals (s) and shares of dataflow, processing and event handlers of one profiled engine."""
    results = profiler.get_results()
    totals = {
        "dataflow": float(results["dataflow_stats"]["total"]),
        "processing": float(results["processing_stats"]["total"]),
        "event_handlers": float(results["event_handlers_stats"]["total_time"]),
    }
    whole = sum(totals.values()) or 1.0
    return {"seconds": totals, "shares": {k: v / whole for k, v in totals.items()}}


def print_per_handler(workflow: ConfigWorkflow, rows: int = 12) -> None:
    """Run ``workflow`` with Ignite's ``HandlersTimeProfiler`` on its trainer; print the handlers' total seconds."""
    profiler = HandlersTimeProfiler()
    profiler.attach(workflow.parser.get_parsed_content("train#trainer"))
    workflow.run()
    results = [r for r in profiler.get_results() if isinstance(r[2], float)]
    print(f"machine: {describe_precision('cpu')}; trainer time per handler (s), the largest first")
    for name, event, total, *_ in sorted(results, key=lambda r: -r[2])[:rows]:
        print(f"  {total:9.2f}  {event:22} {name}")
    workflow.finalize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--train_images", type=int, default=32)
    parser.add_argument("--val_images", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--num_workers", type=int, default=None, help="the DataLoaders' workers (default: the bundle's)"
    )
    parser.add_argument(
        "--data_root", default=os.environ.get(DATA_ROOT_ENV) or str(BUNDLE.parents[2] / "shared" / "data")
    )
    parser.add_argument("--output", default=None, help="also write the result as JSON here")
    parser.add_argument(
        "--per_handler",
        action="store_true",
        help="instead: the trainer's time per event handler (Ignite's HandlersTimeProfiler), the largest first",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        kvasir = Path(args.data_root) / "Kvasir-SEG"
        datalist = kvasir_subset(kvasir, Path(tmp) / "datalist.json", args.train_images, args.val_images, 0)
        overrides = {
            "dataset_dir": str(kvasir), "datalist": datalist, "output_dir": tmp, "image_size": args.image_size,
            "batch_size": args.batch_size, "epochs": args.epochs, "progress_bar": False, "device": "cpu",
            "stage1_model_file": None,  # from scratch: no Stage I encoder needed to measure the pipeline
        }  # fmt: skip
        if args.num_workers is not None:
            overrides["num_workers"] = args.num_workers
        workflow = ConfigWorkflow(
            config_file=str(BUNDLE / "configs" / "train.json"),
            meta_file=str(BUNDLE / "configs" / "metadata.json"),
            logging_file=str(BUNDLE / "configs" / "logging.conf"),
            workflow_type="train",
            **overrides,
        )
        workflow.initialize()
        if args.per_handler:
            print_per_handler(workflow)
            return
        profilers = {"train": BasicTimeProfiler(), "validate": BasicTimeProfiler()}
        profilers["train"].attach(workflow.parser.get_parsed_content("train#trainer"))
        profilers["validate"].attach(workflow.parser.get_parsed_content("validate#evaluator"))
        workflow.run()
        train, validate = shares(profilers["train"]), shares(profilers["validate"])
        # the evaluator runs inside the trainer's ValidationHandler: count it apart from the other handlers
        validation_seconds = sum(validate["seconds"].values())
        train["seconds"]["event_handlers"] -= validation_seconds
        train["seconds"]["validation_run"] = validation_seconds
        whole = sum(train["seconds"].values()) or 1.0
        train["shares"] = {k: v / whole for k, v in train["seconds"].items()}
        result = {
            "machine": describe_precision("cpu"),
            "settings": {k: v for k, v in overrides.items() if k not in ("dataset_dir", "datalist", "output_dir")},
            "num_workers": workflow.parser.get_parsed_content("num_workers"),
            "train": train,
            "validate": validate,
        }
        workflow.finalize()
    print(f"machine: {result['machine']}; {json.dumps(result['settings'])}, num_workers {result['num_workers']}")
    for name in profilers:
        row = result[name]
        print(
            f"{name:9} " + "  ".join(f"{k} {row['seconds'][k]:.1f} s ({row['shares'][k]:.1%})" for k in row["seconds"])
        )
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
