"""Speed and memory of the Med-DisSeg Stage II network on this machine, optionally beside the reference code.

Measures, each configuration in a fresh subprocess (so peak memory is its own):

- eval latency at 256^2, batch 1 (median of ``--repeats`` after a warm-up);
- one full training step at 128^2, batch 8 (train-mode forward, composite loss, backward, Adam step): median time and
  the process's peak resident memory;

in fp32 and, where this machine computes bf16 natively (AVX512-BF16 / AMX; ``--precisions`` overrides), with bf16
autocast, contiguous and channels-last (with ``--compile`` also ``torch.compile``'d eval, whose first call, the
compilation, is reported apart), and the agreement of bf16 with fp32 masks on real Kvasir-SEG images (Dice between
the two binary predictions of a briefly trained network, or of ``--checkpoint``; only when bf16 is measured).

The limit: the machine's fp32 and bf16 matmul peak (GFLOP/s, same thread count), each configuration's FLOPs counted
once with ``torch.utils.flop_counter`` (eval forward; training forward + loss + backward), and beside every time the
achieved GFLOP/s and its fraction of the peak of the precision used.

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
    compl = ((p_fg * p_bg).sum() + (p_fg * p_uc).sum() + (p_bg * p_uc).sum()) / (
        fg.shape[0] * fg.shape[2] * fg.shape[3]
    )
    return (
        dice_bce(mask, target)
        + b_fg * dice_bce(fg, target)
        + b_bg * dice_bce(bg, 1 - target)
        + compl
        + 0.2 * dispersive
    )


def worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    network = _build(args.implementation, args.reference_repo, args.channels_last, args.compile)
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if args.precision == "bf16"
        else torch.autocast("cpu", enabled=False)
    )
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
        # the bundles train with fused Adam (one kernel over all parameters); the reference with the default loop
        optimizer = torch.optim.Adam(network.parameters(), 1e-4, fused=args.implementation != "reference")
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


def _inputs(mode: str, memory_format=None):
    import torch

    if mode == "eval":
        x = torch.rand(1, 3, 256, 256)
        y = None
    else:
        x = torch.rand(8, 3, 128, 128)
        y = (torch.rand(8, 1, 128, 128) > 0.7).float()
    return (x.contiguous(memory_format=memory_format) if memory_format is not None else x), y


def flops_worker(args: argparse.Namespace) -> dict:
    """FLOPs of one eval forward (256^2, batch 1) or one training step (128^2, batch 8: forward, loss, backward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(args.threads)
    network = _build(args.implementation, args.reference_repo, channels_last=False)
    x, y = _inputs(args.mode)
    counter = FlopCounterMode(display=False)
    if args.mode == "eval":
        network.eval()
        with torch.no_grad(), counter:
            network(x)
    else:
        from meddisseg_monai.losses import MedDisSegLoss

        network.train()
        with counter:
            outputs = network(x)
            loss = (
                _reference_step_loss(outputs, y) if args.implementation == "reference" else MedDisSegLoss()(outputs, y)
            )
            loss = loss["loss"] if isinstance(loss, dict) else loss
            loss.backward()
    return {"flops": counter.get_total_flops()}


def peak_worker(args: argparse.Namespace) -> dict:
    """This machine's matmul throughput (GFLOP/s) in fp32 and bf16 at the benchmark's thread count: the best of a few
    square products (2048^2; 512^2 for bf16 where it is emulated, which is too slow for more)."""
    import torch

    from meddisseg_monai.utils import bf16_native, describe_precision

    torch.set_num_threads(args.threads)
    peaks = {}
    for name, dtype, size in (
        ("fp32", torch.float32, 2048),
        ("bf16", torch.bfloat16, 2048 if bf16_native("cpu") else 512),
    ):
        a, b = torch.rand(size, size, dtype=dtype), torch.rand(size, size, dtype=dtype)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        peaks[name] = 2 * size**3 / best / 1e9
    return {"gflops": peaks, "bf16_native": bf16_native("cpu"), "capability": describe_precision("cpu")}


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
    val_ids = [line.strip() for line in (folder / "val.txt").read_text().split() if line.strip()][
        : args.agreement_images
    ]

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
        return {
            "error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        }
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
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile'd eval (fp32, bf16; channels-last)"
    )
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=["fp32", "bf16"],
        default=None,
        help="precisions to time (default: fp32, plus bf16 where this CPU computes it natively)",
    )
    # worker-only arguments
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", default="speed", help=argparse.SUPPRESS)
    parser.add_argument("--implementation", default="meddisseg_monai", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="eval", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--channels_last", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        tasks = {"agreement": agreement_worker, "flops": flops_worker, "peak": peak_worker, "speed": worker}
        print(json.dumps(tasks[args.task](args)))
        return

    import torch

    from meddisseg_monai.utils import bf16_native, describe_precision

    precisions = args.precisions or (["fp32", "bf16"] if bf16_native("cpu") else ["fp32"])
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {describe_precision('cpu')}, "
        f"torch {torch.__version__}, {args.threads} threads, {args.repeats} timed repeats after one warm-up; "
        f"precisions: {', '.join(precisions)}"
    )
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    if args.reference_repo:
        common += ["--reference_repo", args.reference_repo]
    peak = run_worker(["--task", "peak", "--threads", str(args.threads)])
    print(
        "matmul peak (GFLOP/s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in peak.get("gflops", {}).items())
        + ("" if peak.get("bf16_native", False) else " (bf16 emulated)")
    )
    implementations = (["reference"] if args.reference_repo else []) + ["meddisseg_monai"]
    flops = {
        (i, m): run_worker(common + ["--task", "flops", "--implementation", i, "--mode", m]).get("flops")
        for i in implementations
        for m in ("eval", "train")
    }
    for (implementation, mode), count in flops.items():
        print(
            f"FLOPs {implementation:16} {mode:5}: {count / 1e9:.1f} G"
            if count
            else f"FLOPs {implementation} {mode}: not counted"
        )
    configurations = [("meddisseg_monai", p, cl, False) for p in precisions for cl in (False, True)]
    if args.reference_repo:
        configurations = [("reference", p, False, False) for p in precisions] + configurations
    if args.compile:
        configurations += [("meddisseg_monai", p, True, True) for p in precisions]
    results = []

    def achieved(seconds: float | None, count: float | None, precision: str) -> str:
        if not seconds or not count or precision not in peak.get("gflops", {}):
            return ""
        rate = count / seconds / 1e9
        return f"{rate:.0f} GF/s {rate / peak['gflops'][precision]:.0%}"

    header = (
        f"{'implementation':16} {'precision':9} {'layout':22} {'eval 256^2 b1 (s)':>18} {'(GF/s, of peak)':>16} "
        f"{'train 128^2 b8 (s)':>19} {'(GF/s, of peak)':>16} {'peak RSS (GiB)':>15}"
    )
    print(header)
    for implementation, precision, channels_last, compiled in configurations:
        flags = common + ["--implementation", implementation, "--precision", precision]
        flags += ["--channels_last"] if channels_last else []
        flags += ["--compile"] if compiled else []
        evaluation = run_worker(flags + ["--mode", "eval"])
        # compiling the training graph (forward and backward) takes far longer than the steps measured here
        training = {"skipped": "eval only with torch.compile"} if compiled else run_worker(flags + ["--mode", "train"])
        row = {
            "implementation": implementation,
            "precision": precision,
            "channels_last": channels_last,
            "compile": compiled,
            "eval": evaluation,
            "train": training,
        }
        results.append(row)
        layout = ("channels_last" if channels_last else "contiguous") + ("+compile" if compiled else "")
        for part, mode in ((evaluation, "eval"), (training, "train")):
            count = flops.get((implementation, mode))
            if count and "median_s" in part:
                part["gflops_per_s"] = count / part["median_s"] / 1e9
                part["fraction_of_peak"] = (
                    part["gflops_per_s"] / peak["gflops"][precision] if "gflops" in peak else None
                )
        print(
            f"{implementation:16} {precision:9} {layout:22} {evaluation.get('median_s', float('nan')):18.3f} "
            f"{achieved(evaluation.get('median_s'), flops.get((implementation, 'eval')), precision):>16} "
            f"{training.get('median_s', float('nan')):19.3f} "
            f"{achieved(training.get('median_s'), flops.get((implementation, 'train')), precision):>16} "
            f"{training.get('peak_rss_gib', float('nan')):15.2f}"
            + (
                f"  error: {evaluation.get('error') or training.get('error')}"
                if "error" in evaluation or "error" in training
                else ""
            )
            + (
                f"  (first call, compiling: {evaluation['first_call_s']:.1f} s)"
                if compiled and "first_call_s" in evaluation
                else ""
            )
        )
    summary = {
        "machine": describe_precision("cpu"),
        "threads": args.threads,
        "matmul_peak": peak,
        "flops": {f"{i}/{m}": c for (i, m), c in flops.items()},
        "results": results,
    }
    reference = next((r for r in results if r["implementation"] == "reference" and r["precision"] == "fp32"), None)
    if reference and "median_s" in reference["eval"] and "median_s" in reference["train"]:
        print(
            "\nratios against the reference in fp32 (lower is better; goals in fp32: eval <= 0.5, train step <= 0.7; "
            "with native bf16: <= 0.4)"
        )
        for row in results:
            if row["implementation"] == "reference" or "median_s" not in row["eval"]:
                continue
            layout = ("channels_last" if row["channels_last"] else "contiguous") + (
                "+compile" if row["compile"] else ""
            )
            eval_ratio = row["eval"]["median_s"] / reference["eval"]["median_s"]
            if "median_s" not in row["train"]:
                print(f"  {row['precision']:5} {layout:22} eval {eval_ratio:.2f}x")
                row["ratios_vs_reference_fp32"] = {"eval": eval_ratio}
                continue
            train_ratio = row["train"]["median_s"] / reference["train"]["median_s"]
            memory_ratio = row["train"]["peak_rss_gib"] / reference["train"]["peak_rss_gib"]
            print(
                f"  {row['precision']:5} {layout:22} eval {eval_ratio:.2f}x  train step {train_ratio:.2f}x  "
                f"peak memory {memory_ratio:.2f}x"
            )
            row["ratios_vs_reference_fp32"] = {"eval": eval_ratio, "train": train_ratio, "memory": memory_ratio}
    if not args.skip_agreement and "bf16" in precisions:
        flags = [
            "--task",
            "agreement",
            "--threads",
            str(args.threads),
            "--data_root",
            args.data_root,
            "--calibration_steps",
            str(args.calibration_steps),
            "--agreement_images",
            str(args.agreement_images),
        ]
        flags += ["--checkpoint", args.checkpoint] if args.checkpoint else []
        agreement = run_worker(flags)
        summary["agreement"] = agreement
        print("\nbf16 vs fp32 masks on Kvasir-SEG validation images at 256^2:", json.dumps(agreement))
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
