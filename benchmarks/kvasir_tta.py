"""What flip test-time augmentation changes on Kvasir-SEG, and what it costs: the 2D bundle's evaluate workflow run
twice on the same checkpoint and images, ``--tta false`` then ``--tta true``, through ``python -m monai.bundle run``.

Prints the per-image metrics of both runs (mean Dice and IoU at the network size, Dice and HD95 at the source size),
how many images TTA improved or worsened, and the wall-time ratio of the two runs (each a fresh process, start-up
included; on a shared machine compare the ratio within one run only).

Usage (any checkpoint of the bundle's network; extra arguments go to both runs)::

    .venv/bin/python benchmarks/kvasir_tta.py --checkpoint models/model.pt --output_dir /tmp/tta \\
        --image_size 64 --network_def#feature_channels 32
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
METRICS = ["dice", "iou", "dice_source_size", "hd95_source_size"]


def evaluate(tta: bool, checkpoint: str, output_dir: Path, extra: list[str]) -> tuple[float, dict, dict]:
    """One evaluate run; returns (seconds, summary per metric, per-image rows keyed by image)."""
    command = [
        sys.executable, "-m", "monai.bundle", "run",
        "--config_file", "['configs/train.json','configs/evaluate.json']",
        "--best_model_file", checkpoint, "--output_dir", str(output_dir), "--tta", str(tta).lower(),
        "--num_workers", "0", "--device", "cpu", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=BUNDLE, capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"evaluate --tta {tta} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    summary = json.loads((output_dir / "eval" / "metrics_summary.json").read_text())["per_image"]
    with open(output_dir / "eval" / "metrics_per_image.csv") as stream:
        rows = {r["image"]: r for r in csv.DictReader(stream)}
    return seconds, summary, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a state dict of the bundle's network (models/model.pt)")
    parser.add_argument("--output_dir", required=True, type=Path)
    args, extra = parser.parse_known_args()
    checkpoint = str(Path(args.checkpoint).resolve())
    runs = {}
    for tta in (False, True):
        runs[tta] = evaluate(tta, checkpoint, args.output_dir / f"tta_{str(tta).lower()}", extra)
    (t_off, s_off, r_off), (t_on, s_on, r_on) = runs[False], runs[True]
    result: dict = {"images": len(r_off), "seconds": {"tta_false": round(t_off, 1), "tta_true": round(t_on, 1)}}
    result["time_ratio_tta_over_plain"] = round(t_on / t_off, 2)
    for metric in METRICS:
        if metric not in s_off:
            continue
        off, on = s_off[metric]["mean"], s_on[metric]["mean"]
        deltas = [
            float(r_on[k][metric]) - float(r_off[k][metric]) for k in r_off if r_off[k].get(metric) not in ("", None)
        ]
        better = sum(d > 1e-9 for d in deltas) if metric != "hd95_source_size" else sum(d < -1e-9 for d in deltas)
        worse = sum(d < -1e-9 for d in deltas) if metric != "hd95_source_size" else sum(d > 1e-9 for d in deltas)
        result[metric] = {"tta_false": off, "tta_true": on, "images_better": better, "images_worse": worse}
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
