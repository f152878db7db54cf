"""Peak resident memory of the CT bundle's whole inference (``configs/inference.json``) on a full-size CT.

The shared CT examples are small (122 x 101 x 112 at 3 mm). A 512 x 512 x 129 volume (a typical clinical series) is
made from ``example_ct.nii.gz`` by linear resampling (the same anatomy, 0.71 x 0.59 x 2.6 mm voxels), and a random
network of the inference config is saved (memory does not depend on the weights). Each setting runs
``python -m monai.bundle run --config_file configs/inference.json`` in its own process; the figure is that process's
peak resident set size (``ru_maxrss``).

``--invert_channels_per_step`` is the knob of :class:`~meddisseg_monai.transforms.invert.InvertArgmaxd`: 14 (every
BTCV class at once) is what ``Invertd`` + ``AsDiscreted(argmax=True)`` did before; 2 is the bundle default.

Usage::

    .venv/bin/python benchmarks/ct_inference_memory.py                                  # 6 mm, width 32: 14 vs 2
    .venv/bin/python benchmarks/ct_inference_memory.py --spacing 1.5 1.5 2.0 --feature_channels 128 --steps 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE = REPO_ROOT / "bundle" / "meddisseg_ct_segmentation"
SOURCE = REPO_ROOT.parent / "shared" / "data" / "CT-TotalSegmentator-examples" / "example_ct.nii.gz"


def make_volume(path: Path, shape: tuple[int, int, int]) -> tuple[int, ...]:
    import nibabel as nib
    import numpy as np
    from scipy.ndimage import zoom

    source = nib.load(SOURCE)
    volume = np.asarray(source.dataobj).astype(np.float32)
    factors = [t / s for t, s in zip(shape, volume.shape)]
    resized = zoom(volume, factors, order=1).astype(np.int16)
    affine = source.affine.copy()
    for axis, factor in enumerate(factors):
        affine[:3, axis] /= factor
    nib.save(nib.Nifti1Image(resized, affine), path)
    return resized.shape


def make_checkpoint(path: Path, feature_channels: int) -> None:
    import torch
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "inference.json"))
    parser.update({"feature_channels": feature_channels})
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)


# a fresh parent per setting: its RUSAGE_CHILDREN peak is that one run's
_MEASURE = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "sys.stderr.write(r.stderr[-3000:] if r.returncode else '')\n"
    "print('peak_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(r.returncode)\n"
)


def run(volume: Path, checkpoint: Path, output: Path, args: argparse.Namespace, step: int) -> dict:
    command = [
        sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
        "--input", str(volume), "--ckpt_path", str(checkpoint), "--output_dir", str(output), "--device", "cpu",
        "--feature_channels", str(args.feature_channels), "--spacing", json.dumps(list(args.spacing)),
        "--roi_size", json.dumps(list(args.roi_size)), "--invert_channels_per_step", str(step),
        "--progress_bar", "false",
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], cwd=BUNDLE, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"inference failed:\n{(result.stdout + result.stderr)[-3000:]}")
    peak = int(result.stdout.strip().splitlines()[-1].split()[-1])
    return {"invert_channels_per_step": step, "peak_rss_gib": round(peak / 2**20, 2), "wall_s": round(elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 129))
    parser.add_argument("--spacing", type=float, nargs=3, default=(6.0, 6.0, 6.0))
    parser.add_argument("--feature_channels", type=int, default=32)
    parser.add_argument("--roi_size", type=int, nargs=3, default=(96, 96, 96))
    parser.add_argument("--steps", type=int, nargs="+", default=(14, 2), help="invert_channels_per_step values")
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="ct-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    volume, checkpoint = work / "ct.nii.gz", work / f"model_w{args.feature_channels}.pt"
    shape = make_volume(volume, tuple(args.shape))
    if not checkpoint.exists():
        make_checkpoint(checkpoint, args.feature_channels)
    load = os.getloadavg()[0]
    for step in args.steps:
        row = run(volume, checkpoint, work / f"out_{step}", args, step)
        print(json.dumps({"shape": shape, "spacing": args.spacing, "feature_channels": args.feature_channels,
                          "roi_size": args.roi_size,
                          **row, "load_1min_before": round(load, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
