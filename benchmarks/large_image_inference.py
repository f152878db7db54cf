"""Time and peak memory of the 2D bundle's inference on one very large image (issue 12: a 6000 x 6000 JPEG).

The image is the first Kvasir-SEG image enlarged (bilinear) to ``--size``; the network is random (time and memory do
not depend on the weights). Each ``--shrink_large_factor`` runs ``python -m monai.bundle run --config_file
configs/inference.json`` in its own process under ``/usr/bin/time``: wall time and that process's peak resident set
size. ``0`` turns the first reduction off (the Gaussian anti-aliasing then works on the full image).

Usage::

    .venv/bin/python benchmarks/large_image_inference.py --size 6000 --image_size 64 --factors 8 0
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
KVASIR = REPO_ROOT.parent / "shared" / "data" / "Kvasir-SEG" / "images"


def run(folder: Path, model: Path, image_size: int, factor: float, out: Path) -> dict:
    command = [
        "/usr/bin/time",
        "-f",
        "MAXRSS_KB %M",
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "configs/inference.json",
        "--input",
        str(folder),
        "--model_file",
        str(model),
        "--image_size",
        str(image_size),
        "--shrink_large_factor",
        str(factor),
        "--output_dir",
        str(out),
        "--progress_bar",
        "false",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"inference failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    peak_kb = int(re.findall(r"MAXRSS_KB (\d+)", result.stderr)[-1])
    return {"shrink_large_factor": factor, "seconds": round(seconds, 1), "peak_rss_gib": round(peak_kb / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--factors", type=float, nargs="+", default=[8.0, 0.0])
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default: print only)")
    args = parser.parse_args()

    import torch
    from PIL import Image

    from meddisseg_monai.networks import MedDisSeg
    from meddisseg_monai.utils import describe_precision

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "inputs"
        folder.mkdir()
        source = sorted(KVASIR.glob("*.jpg"))[0]
        Image.open(source).convert("RGB").resize((args.size, args.size), Image.BILINEAR).save(
            folder / "large.jpg", quality=90
        )
        model = tmp / "model.pt"
        torch.manual_seed(0)
        torch.save(MedDisSeg(spatial_dims=2, in_channels=3, out_channels=1).state_dict(), model)
        rows = []
        for factor in args.factors:
            row = run(folder, model, args.image_size, factor, tmp / f"out_{factor}")
            mask = Image.open(tmp / f"out_{factor}" / "inference" / "masks" / "large.png")
            row["mask_size"] = list(mask.size)
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {
        "image": f"{source.name} enlarged to {args.size}x{args.size} (JPEG)",
        "image_size": args.image_size,
        "machine": describe_precision("cpu"),
        "torch_threads": torch.get_num_threads(),
        "runs": rows,
    }
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
