"""Sliding-window inference time and peak memory per CT volume: 3D Med-DisSeg against MONAI's SwinUNETR.

Every configuration runs in its own subprocess, so the peak resident memory (``ru_maxrss``) is its own. Each loads a
real CT volume and preprocesses it as the bundle's ``inference.json`` does (RAS, resampling to ``--spacing``, HU
window -175..250 scaled to [0, 1], foreground crop), then times one ``SlidingWindowInferer`` pass over the whole
volume (after one warm-up forward of a single window), in fp32 or with bf16 autocast on the CPU. Weights are random:
time and memory do not depend on them.

The CPU of a development machine is shared: the script records the load average before and after each
configuration; compare figures only between runs on a quiet machine.

Needs einops for SwinUNETR: `bash scripts/install.sh test,benchmark`.

Usage::

    .venv/bin/python benchmarks/benchmark_ct_inference.py                       # the default table
    .venv/bin/python benchmarks/benchmark_ct_inference.py --models meddisseg128 swinunetr --rois 96 --precisions fp32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VOLUME = REPO_ROOT.parent / "shared" / "data" / "CT-TotalSegmentator-examples" / "example_ct_sm.nii.gz"
MODELS = {
    # name: (description, builder kwargs)
    "meddisseg128": "Med-DisSeg 3D, feature_channels 128 (the paper's width; bundle default)",
    "meddisseg32": "Med-DisSeg 3D, feature_channels 32 (CPU-friendly override)",
    "swinunetr": "MONAI SwinUNETR, feature_size 48 (as the zoo's BTCV bundle)",
}


def build(model: str, out_channels: int):
    import torch

    torch.manual_seed(0)
    if model.startswith("meddisseg"):
        from meddisseg_monai.networks import MedDisSeg

        return MedDisSeg(spatial_dims=3, in_channels=1, out_channels=out_channels, feature_channels=int(model[9:]))
    from monai.networks.nets import SwinUNETR

    return SwinUNETR(in_channels=1, out_channels=out_channels, feature_size=48, spatial_dims=3)


def preprocess(volume: str, spacing: list[float]):
    """The CT bundle's own inference preprocessing (its ``preprocessing`` entry) at ``spacing``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(REPO_ROOT / "bundle" / "meddisseg_ct_segmentation" / "configs" / "inference.json"))
    parser.update({"spacing": list(spacing)})
    return parser.get_parsed_content("preprocessing")({"image": volume})["image"]


def worker(args: argparse.Namespace) -> dict:
    import torch
    from monai.inferers import SlidingWindowInferer

    torch.set_num_threads(args.threads)
    image = preprocess(args.volume, args.spacing).as_tensor()[None].float()
    network = build(args.model, args.out_channels).eval()
    parameters = sum(p.numel() for p in network.parameters()) / 1e6
    roi = [args.roi] * 3
    inferer = SlidingWindowInferer(roi_size=roi, sw_batch_size=args.sw_batch_size, overlap=args.overlap)
    windows = []

    def counted(x):
        windows.append(x.shape[0])
        return network(x)

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    with torch.no_grad(), autocast:
        network(torch.rand(1, 1, *roi))  # warm-up (one-time kernel selection, allocations)
        start = time.perf_counter()
        output = inferer(image, counted)
        elapsed = time.perf_counter() - start
    return {
        "model": args.model,
        "roi": args.roi,
        "precision": args.precision,
        "volume_shape": list(image.shape[2:]),
        "windows": sum(windows),
        "time_s": elapsed,
        "per_window_s": elapsed / max(sum(windows), 1),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "parameters_m": parameters,
        "output_dtype": str(output.dtype),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volume", default=str(DEFAULT_VOLUME))
    parser.add_argument("--spacing", type=float, nargs=3, default=[1.5, 1.5, 2.0])
    parser.add_argument("--models", nargs="+", default=["meddisseg128", "swinunetr", "meddisseg32"], choices=MODELS)
    parser.add_argument("--rois", type=int, nargs="+", default=[96])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--out_channels", type=int, default=14)
    parser.add_argument("--sw_batch_size", type=int, default=1)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--roi", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    results = []
    for roi in args.rois:
        for model in args.models:
            for precision in args.precisions:
                command = [
                    sys.executable,
                    __file__,
                    "--worker",
                    "--model",
                    model,
                    "--roi",
                    str(roi),
                    "--precision",
                    precision,
                    "--volume",
                    args.volume,
                    "--spacing",
                    *map(str, args.spacing),
                    "--out_channels",
                    str(args.out_channels),
                    "--sw_batch_size",
                    str(args.sw_batch_size),
                    "--overlap",
                    str(args.overlap),
                    "--threads",
                    str(args.threads),
                ]
                load_before = os.getloadavg()[0]
                done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
                if done.returncode != 0:
                    result = {"model": model, "roi": roi, "precision": precision, "error": done.stderr[-2000:]}
                else:
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                result["load_before"], result["load_after"] = load_before, os.getloadavg()[0]
                results.append(result)
                print(json.dumps(result), flush=True)
    header = (
        f"volume {Path(args.volume).name} at {args.spacing} mm, overlap {args.overlap}, sw_batch_size "
        f"{args.sw_batch_size}, {args.threads} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    print("\n" + header)
    print("| model | ROI | precision | windows | time per volume (s) | per window (s) | peak RSS (GiB) | load 1 min |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['model']} | {r['roi']}^3 | {r['precision']} | failed: {r['error'].splitlines()[-1]} |")
            continue
        print(
            f"| {r['model']} ({r['parameters_m']:.0f} M) | {r['roi']}^3 | {r['precision']} | {r['windows']} | "
            f"{r['time_s']:.1f} | {r['per_window_s']:.2f} | {r['peak_rss_gib']:.2f} | "
            f"{r['load_before']:.1f} -> {r['load_after']:.1f} |"
        )
    if args.output:
        Path(args.output).write_text(json.dumps({"setup": header, "results": results}, indent=2))


if __name__ == "__main__":
    main()
