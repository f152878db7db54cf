"""Speed and memory of the Med-DisSeg Stage II network on this machine, optionally beside the reference code.

Measures, each configuration in a fresh subprocess (so peak memory is its own):

- eval latency at 256^2, batch 1 (median of ``--repeats`` after a warm-up);
- one full training step at 128^2, batch 8 (train-mode forward, composite loss, backward, Adam step): median time and
  the process's peak resident memory;

in fp32 and with bf16 autocast, contiguous and channels-last (with ``--compile`` also ``torch.compile``'d eval, whose
first call, the compilation, is reported apart), and the agreement of bf16 with fp32 masks on real Kvasir-SEG images (Dice between
the two binary predictions of a briefly trained network, or of ``--checkpoint``).

With ``--reference_repo`` pointing at a local clone of xiaoquan-1/Med-DisSeg, the reference architecture is measured
the same way in the same run (its ResNet-50 constructor downloads ImageNet weights by default; the harness turns that
off, which does not change timings). Nothing is downloaded.

Usage::

    .venv/bin/python benchmarks/benchmark_network.py --reference_repo /path/to/Med-DisSeg
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------------------------
# workers (run in a subprocess each)


def _load_reference(reference_repo: str):
    sys.path.insert(0, reference_repo)
    import network.resnet as reference_resnet  # noqa: E402 (the reference repository's module)

    reference_resnet.resnet50.__defaults__ = (False, True)  # pretrained=False: no download, same architecture
    from network.model import MedDisSeg2  # noqa: E402

    return MedDisSeg2


def _build(implementation: str, reference_repo: str | None, channels_last: bool, compile: bool = False):
    import torch

    torch.manual_seed(0)
    if implementation == "reference":
        network = _load_reference(reference_repo)(use_dispersive_loss=True)
    else:
        from meddisseg_monai.networks import MedDisSeg

        from meddisseg_monai.utils import accelerate_network

        return accelerate_network(MedDisSeg(auxiliary_outputs=True), channels_last=channels_last, compile=compile)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    return network


def _reference_step_loss(outputs, target):
    """The reference repository's Stage II loss on its outputs (sigmoid maps and its dispersive term)."""
    import torch
    import torch.nn.functional as F

    mask, fg, bg, uc, dispersive = outputs

    def dice_bce(p, t):
        p, t = p.reshape(-1), t.reshape(-1)
        return 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1) + F.binary_cross_entropy(p, t)

    b_fg = 1 / (torch.tanh(fg.sum() / (fg.shape[2] * fg.shape[3])) + 1e-15)
    b_bg = 1 / (torch.tanh(bg.sum() / (bg.shape[2] * bg.shape[3])) + 1e-15)
    probs = torch.softmax(torch.stack([fg, bg, uc], dim=1), dim=1)
    p_fg, p_bg, p_uc = probs[:, 0], probs[:, 1], probs[:, 2]
    compl = ((p_fg * p_bg).sum() + (p_fg * p_uc).sum() + (p_bg * p_uc).sum()) / (fg.shape[0] * fg.shape[2] * fg.shape[3])
    return dice_bce(mask, target) + b_fg * dice_bce(fg, target) + b_bg * dice_bce(bg, 1 - target) + compl + 0.2 * dispersive


def worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    network = _build(args.implementation, args.reference_repo, args.channels_last, args.compile)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.precision == "bf16" else torch.autocast("cpu", enabled=False)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    rss_after_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    times = []
    first_call = None
    if args.mode == "eval":
        network.eval()
        x = torch.rand(1, 3, 256, 256).contiguous(memory_format=memory_format)
        with torch.no_grad(), autocast:
            for i in range(args.repeats + 1):
                start = time.perf_counter()
                network(x)
                if i:
                    times.append(time.perf_counter() - start)
                else:
                    first_call = time.perf_counter() - start
    else:
        from meddisseg_monai.losses import MedDisSegLoss

        network.train()
        optimizer = torch.optim.Adam(network.parameters(), 1e-4)
        loss_fn = MedDisSegLoss()
        x = torch.rand(8, 3, 128, 128).contiguous(memory_format=memory_format)
        y = (torch.rand(8, 1, 128, 128) > 0.7).float()
        for i in range(args.repeats + 1):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                outputs = network(x)
                if args.implementation == "reference":
                    loss = _reference_step_loss([o.float() for o in outputs], y)
                else:
                    loss = loss_fn(outputs, y)
            loss.backward()
            optimizer.step()
            if i:
                times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "rss_after_build_gib": rss_after_build,
        "first_call_s": first_call,
    }


def agreement_worker(args: argparse.Namespace) -> dict:
    """Dice between fp32 and bf16 masks of a (briefly trained or given) network on real Kvasir-SEG images."""
    import numpy as np
    import torch
    from PIL import Image

    from meddisseg_monai.losses import MedDisSegLoss
    from meddisseg_monai.networks import MedDisSeg

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    folder = Path(args.data_root) / "Kvasir-SEG"
    ids = [line.strip() for line in (folder / "train.txt").read_text().split() if line.strip()]
    val_ids = [line.strip() for line in (folder / "val.txt").read_text().split() if line.strip()][: args.agreement_images]

    def load(image_id, size):
        image = Image.open(folder / "images" / f"{image_id}.jpg").convert("RGB").resize((size, size), Image.BILINEAR)
        mask = Image.open(folder / "masks" / f"{image_id}.jpg").convert("L").resize((size, size), Image.NEAREST)
        return (
            torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255,
            torch.from_numpy((np.array(mask) >= 128).astype(np.float32))[None],
        )

    network = MedDisSeg(auxiliary_outputs=True)
    if args.checkpoint:
        from meddisseg_monai.networks.weights import read_state_dict

        network.load_state_dict(read_state_dict(args.checkpoint))
        trained = f"checkpoint {args.checkpoint}"
    else:  # a short bf16 fit at 128^2 so that predictions are real masks rather than a constant
        optimizer = torch.optim.Adam(network.parameters(), 3e-4)
        loss_fn = MedDisSegLoss()
        network.train()
        pairs = [load(i, 128) for i in ids[: 8 * args.calibration_steps]]
        for step in range(args.calibration_steps):
            batch = pairs[(step * 8) % len(pairs) : (step * 8) % len(pairs) + 8]
            x, y = torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(network(x), y)
            loss.backward()
            optimizer.step()
        trained = f"{args.calibration_steps} bf16 training steps at 128^2, batch 8"
    network.eval()
    dices, foreground = [], []
    with torch.no_grad():
        for image_id in val_ids:
            x, _ = load(image_id, 256)
            fp32 = network(x[None]) > 0
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf16 = network(x[None]).float() > 0
            both = (fp32 & bf16).sum().item()
            total = fp32.sum().item() + bf16.sum().item()
            dices.append(1.0 if total == 0 else 2 * both / total)
            foreground.append(fp32.float().mean().item())
    return {
        "images": len(val_ids),
        "network": trained,
        "mean_dice_bf16_vs_fp32": statistics.mean(dices),
        "min_dice_bf16_vs_fp32": min(dices),
        "mean_predicted_foreground_fraction": statistics.mean(foreground),
    }


# ---------------------------------------------------------------------------------------------------------------------
# driver


def run_worker(extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--worker", *extra]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference_repo", default=None, help="local clone of xiaoquan-1/Med-DisSeg to compare with")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data_root", default=str(REPO_ROOT.parent / "shared" / "data"))
    parser.add_argument("--checkpoint", default=None, help="a trained MedDisSeg state dict for the agreement check")
    parser.add_argument("--calibration_steps", type=int, default=40)
    parser.add_argument("--agreement_images", type=int, default=20)
    parser.add_argument("--skip_agreement", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd eval (fp32, bf16; channels-last)")
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    # worker-only arguments
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="speed", help=argparse.SUPPRESS)
    parser.add_argument("--implementation", default="meddisseg_monai", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="eval", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--channels_last", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = agreement_worker(args) if args.task == "agreement" else worker(args)
        print(json.dumps(result))
        return

    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads, {args.repeats} timed repeats after one warm-up")
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    if args.reference_repo:
        common += ["--reference_repo", args.reference_repo]
    configurations = [("meddisseg_monai", p, cl, False) for p in ("fp32", "bf16") for cl in (False, True)]
    if args.reference_repo:
        configurations = [("reference", "fp32", False, False), ("reference", "bf16", False, False)] + configurations
    if args.compile:
        configurations += [("meddisseg_monai", p, True, True) for p in ("fp32", "bf16")]
    results = []
    header = f"{'implementation':16} {'precision':9} {'layout':22} {'eval 256^2 b1 (s)':>18} {'train 128^2 b8 (s)':>19} {'peak RSS (GiB)':>15}"
    print(header)
    for implementation, precision, channels_last, compiled in configurations:
        flags = common + ["--implementation", implementation, "--precision", precision]
        flags += ["--channels_last"] if channels_last else []
        flags += ["--compile"] if compiled else []
        evaluation = run_worker(flags + ["--mode", "eval"])
        # compiling the training graph (forward and backward) takes far longer than the steps measured here
        training = {"skipped": "eval only with torch.compile"} if compiled else run_worker(flags + ["--mode", "train"])
        row = {"implementation": implementation, "precision": precision, "channels_last": channels_last,
               "compile": compiled, "eval": evaluation, "train": training}
        results.append(row)
        layout = ("channels_last" if channels_last else "contiguous") + ("+compile" if compiled else "")
        print(f"{implementation:16} {precision:9} {layout:22} {evaluation.get('median_s', float('nan')):18.3f} "
              f"{training.get('median_s', float('nan')):19.3f} {training.get('peak_rss_gib', float('nan')):15.2f}"
              + (f"  error: {evaluation.get('error') or training.get('error')}" if "error" in evaluation or "error" in training else "")
              + (f"  (first call, compiling: {evaluation['first_call_s']:.1f} s)" if compiled and "first_call_s" in evaluation else ""))
    summary = {"results": results}
    reference = next((r for r in results if r["implementation"] == "reference" and r["precision"] == "fp32"), None)
    if reference and "median_s" in reference["eval"] and "median_s" in reference["train"]:
        print("\nratios against the reference in fp32 (lower is better; goals: eval <= 0.4, train step <= 0.6):")
        for row in results:
            if row["implementation"] == "reference" or "median_s" not in row["eval"]:
                continue
            layout = ("channels_last" if row["channels_last"] else "contiguous") + ("+compile" if row["compile"] else "")
            eval_ratio = row["eval"]["median_s"] / reference["eval"]["median_s"]
            if "median_s" not in row["train"]:
                print(f"  {row['precision']:5} {layout:22} eval {eval_ratio:.2f}x")
                row["ratios_vs_reference_fp32"] = {"eval": eval_ratio}
                continue
            train_ratio = row["train"]["median_s"] / reference["train"]["median_s"]
            memory_ratio = row["train"]["peak_rss_gib"] / reference["train"]["peak_rss_gib"]
            print(f"  {row['precision']:5} {layout:22} eval {eval_ratio:.2f}x  train step {train_ratio:.2f}x  peak memory {memory_ratio:.2f}x")
            row["ratios_vs_reference_fp32"] = {"eval": eval_ratio, "train": train_ratio, "memory": memory_ratio}
    if not args.skip_agreement:
        flags = ["--task", "agreement", "--threads", str(args.threads), "--data_root", args.data_root,
                 "--calibration_steps", str(args.calibration_steps), "--agreement_images", str(args.agreement_images)]
        flags += ["--checkpoint", args.checkpoint] if args.checkpoint else []
        agreement = run_worker(flags)
        summary["agreement"] = agreement
        print("\nbf16 vs fp32 masks on Kvasir-SEG validation images at 256^2:", json.dumps(agreement))
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
