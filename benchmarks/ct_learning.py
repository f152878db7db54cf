"""Does the CT bundle learn? A short training run on the shared volumes, scored per organ against an untrained model.

Steps, all through the bundle's own configs and ``python -m monai.bundle run`` (nothing re-implemented here):

1. the untrained network (same seed as the training run) is saved as a checkpoint;
2. ``train.json`` + ``evaluate.json`` score it: per-organ Dice / HD95 on the evaluation cases, on their own grid;
3. ``train.json`` trains for ``--epochs`` epochs (one training volume: one iteration of ``num_samples`` patches each);
4. the trained checkpoint is scored the same way;
5. a per-organ table (untrained vs trained Dice) is printed and written to ``<work_dir>/learning.json``.

The defaults are sized for a small CPU (coarse spacing, 32^3 patches, feature_channels 32). They show that the
pipeline learns; they are no benchmark of accuracy (one training volume; see the bundle README).

Usage::

    .venv/bin/python benchmarks/ct_learning.py --work_dir runs/ct_learning
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"
DATA = REPO_ROOT.parent / "shared" / "data" / "CT-TotalSegmentator-examples"


def bundle_run(configs: list[str], overrides: dict, log_path: Path) -> float:
    """``python -m monai.bundle run`` in the bundle folder; returns the wall time."""
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", json.dumps(configs)]
    for key, value in overrides.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        subprocess.run(command, cwd=BUNDLE, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def save_untrained(overrides: dict, path: Path) -> None:
    """The network of ``train.json`` with these overrides, as built before training, as a checkpoint."""
    import torch
    from monai.bundle import ConfigParser
    from monai.utils import set_determinism

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "train.json"))
    parser.update({k: v for k, v in overrides.items() if k in ("feature_channels", "label_set")})
    parser["bundle_root"] = str(BUNDLE)
    set_determinism(seed=0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work_dir", default=str(REPO_ROOT / "runs" / "ct_learning"))
    parser.add_argument("--dataset_dir", default=str(DATA))
    parser.add_argument("--label_set", default="btcv13")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--spacing", type=float, nargs=3, default=[6.0, 6.0, 6.0])
    parser.add_argument("--roi", type=int, nargs=3, default=[32, 32, 32])
    parser.add_argument("--feature_channels", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-4)
    parser.add_argument("--num_samples", type=int, default=2)
    args = parser.parse_args()

    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    source = "totalsegmentator_v2"
    datalist = {
        "training": [
            {"image": "example_ct.nii.gz", "label": "example_seg_fast_force_split.nii.gz", "source_labels": source}
        ],
        "validation": [
            {
                "case": "example_ct (training volume)",
                "image": "example_ct.nii.gz",
                "label": "example_seg_fast_force_split.nii.gz",
                "source_labels": source,
            },
            {
                "case": "example_ct_dicom (other scan)",
                "image": "example_ct_dicom",
                "label": "example_seg_dicom.nii.gz",
                "source_labels": source,
            },
        ],
    }
    (work / "datalist.json").write_text(json.dumps(datalist, indent=2))
    common = {
        "dataset_dir": str(Path(args.dataset_dir).resolve()),
        "datalist": str(work / "datalist.json"),
        "label_set": args.label_set,
        "spacing": args.spacing,
        "roi_size": args.roi,
        "feature_channels": args.feature_channels,
        "num_workers": 0,
        "cache_rate": 1.0,
        "sw_batch_size": 1,
    }
    train_eval = ["configs/train.json", "configs/evaluate.json"]
    results, times = {}, {}
    save_untrained(common, work / "untrained.pt")
    times["evaluate_untrained_s"] = bundle_run(
        train_eval,
        {**common, "ckpt_path": str(work / "untrained.pt"), "output_dir": str(work / "untrained")},
        work / "evaluate_untrained.log",
    )
    times["train_s"] = bundle_run(
        ["configs/train.json"],
        {
            **common,
            "epochs": args.epochs,
            "val_interval": args.epochs,
            "learning_rate": args.learning_rate,
            "num_samples": args.num_samples,
            "ckpt_dir": str(work / "models"),
            "output_dir": str(work / "train"),
        },
        work / "train.log",
    )
    times["evaluate_trained_s"] = bundle_run(
        train_eval,
        {**common, "ckpt_path": str(work / "models" / "model.pt"), "output_dir": str(work / "trained")},
        work / "evaluate_trained.log",
    )

    import csv

    from meddisseg_monai.data.ct import organ_names

    for name in ("untrained", "trained"):  # the bundles' report: one row per case, one column per metric and organ
        with open(work / name / "metrics_per_image.csv") as stream:
            for row in csv.DictReader(stream):
                case = Path(row["image"]).name
                for organ in organ_names("btcv13"):
                    results.setdefault((case, organ), {})[name] = {
                        "dice": row[f"dice_source_size_{organ}"],
                        "hd95_mm": row[f"hd95_source_size_{organ}"],
                    }
    lines = [
        "| case | organ | Dice untrained | Dice trained | HD95 mm untrained | HD95 mm trained |",
        "|---|---|---|---|---|---|",
    ]
    table = []
    fmt = lambda v: f"{float(v):.3f}" if v not in (None, "", "nan", "inf") else "-"  # noqa: E731
    for (case, organ), rows in results.items():
        u, t = rows.get("untrained", {}), rows.get("trained", {})
        entry = {
            "case": case,
            "organ": organ,
            "dice_untrained": u.get("dice"),
            "dice_trained": t.get("dice"),
            "hd95_untrained": u.get("hd95_mm"),
            "hd95_trained": t.get("hd95_mm"),
        }
        table.append(entry)
        lines.append(
            f"| {case} | {organ} | {fmt(entry['dice_untrained'])} | "
            f"{fmt(entry['dice_trained'])} | {fmt(entry['hd95_untrained'])} | {fmt(entry['hd95_trained'])} |"
        )
    summaries = {
        name: json.loads((work / name / "metrics_summary.json").read_text()) for name in ("untrained", "trained")
    }
    report = {
        "settings": vars(args),
        "times": times,
        "per_organ_case": table,
        "mean_dice": {k: v["per_image"]["dice_source_size"]["mean"] for k, v in summaries.items()},
        "load_average": os.getloadavg(),
    }
    (work / "learning.json").write_text(json.dumps(report, indent=2))
    print("\n".join(lines))
    print(json.dumps({"mean_dice": report["mean_dice"], "times": times, "load_average": report["load_average"]}))


if __name__ == "__main__":
    main()
