"""Where a Med-DisSeg training step spends its time, against where its FLOPs are.

Each block of the network (encoder, dilated-conv enhancement, semantic decoupling, auxiliary heads, guidance
projections, CDFA window attention, size-aware decoders, output head, upsampling) and each kind of layer inside it
(TeLU, BatchNorm) is run on its own, forward and backward, on the very inputs it receives in a real training step
(captured by forward hooks on a batch of real Kvasir-SEG images), and timed and FLOP-counted
(``torch.utils.flop_counter``) the same way. The loss (forward and backward) and the Adam step are timed too. The
table gives each part's share of the summed time beside its share of the FLOPs: a part whose time share is far above
its FLOP share is overhead (memory-bound elementwise work, layout copies, small kernels).

Blocks overlap with the layer kinds (a TeLU inside a decoder counts in both); the shares of blocks sum to 100 %, the
layer rows are extra. Also printed: a whole-step ``torch.profiler`` breakdown by operator (self CPU time, top 15).

Usage::

    .venv/bin/python benchmarks/profile_training_step.py --stage 2 --image_size 64 --batch_size 8
    .venv/bin/python benchmarks/profile_training_step.py --stage 1 --image_size 128 --output result.json

Timings are of this machine at this moment; the precision is fp32 unless ``--autocast bf16`` (which is only fast
where bf16 is native, see ``meddisseg_monai.utils.describe_precision``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from meddisseg_monai.losses import MedDisSegLoss, MedDisSegStage1Loss
from meddisseg_monai.networks import MedDisSeg, MedDisSegStage1
from meddisseg_monai.networks.layers import TeLU
from meddisseg_monai.utils import autocast_context, describe_precision

REPO_ROOT = Path(__file__).resolve().parents[1]

# top-level attribute -> block name, per stage
STAGE2_BLOCKS = {
    "encoder": "encoder (ResNet-50 to layer3)",
    "enhancements": "dilated-conv enhancement",
    "decoupling": "semantic decoupling",
    "auxiliary_heads": "auxiliary heads",
    "fg_guides": "guidance projections",
    "bg_guides": "guidance projections",
    "aggregations": "CDFA (window attention)",
    "upsample": "upsampling between levels",
    "decoder_small": "size-aware decoders",
    "decoder_medium": "size-aware decoders",
    "decoder_large": "size-aware decoders",
    "head": "output head",
}
STAGE1_BLOCKS = {"encoder": "encoder (ResNet-50 to layer3)", "head": "ELAT head"}
LAYER_KINDS = {"TeLU (all)": (TeLU,), "BatchNorm (all)": (nn.BatchNorm2d, nn.BatchNorm3d)}


def real_batch(size: int, batch_size: int, data_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``batch_size`` images and masks of Kvasir-SEG's official training split at ``size``^2."""
    import numpy as np
    from PIL import Image

    folder = data_root / "Kvasir-SEG"
    ids = (folder / "train.txt").read_text().split()[:batch_size]
    images, masks = [], []
    for image_id in ids:
        image = Image.open(folder / "images" / f"{image_id}.jpg").convert("RGB").resize((size, size), Image.BILINEAR)
        mask = Image.open(folder / "masks" / f"{image_id}.jpg").convert("L").resize((size, size), Image.NEAREST)
        images.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255.0)
        masks.append(torch.from_numpy((np.asarray(mask) >= 128).astype(np.float32))[None])
    return torch.stack(images), torch.stack(masks)


def _capture_calls(
    network: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor
) -> list[tuple[str, nn.Module, tuple]]:
    """(name, module, inputs) of every call of ``modules`` during one train-mode forward of ``network``."""
    calls = []
    handles = [
        module.register_forward_pre_hook(lambda m, args, name=name: calls.append((name, m, args)))
        for name, module in modules.items()
    ]
    try:
        with torch.no_grad():
            network(x)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _detached(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.is_floating_point())
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _forward_backward(module: nn.Module, inputs: tuple, autocast: str | None) -> None:
    with autocast_context("cpu", autocast):
        outputs = _tensors(module(*inputs))
    grads = [torch.ones_like(o) for o in outputs if o.requires_grad]
    torch.autograd.backward([o for o in outputs if o.requires_grad], grads)


def time_and_count(module: nn.Module, inputs: tuple, repeats: int, autocast: str | None) -> tuple[float, int]:
    """Median seconds and FLOPs of ``module``'s forward + backward on (copies of) ``inputs``."""
    inputs = _detached(inputs)
    _forward_backward(module, inputs, autocast)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _forward_backward(module, inputs, autocast)
        times.append(time.perf_counter() - start)
    counter = FlopCounterMode(display=False)
    with counter:
        _forward_backward(module, inputs, autocast)
    return statistics.median(times), counter.get_total_flops()


def profile(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    x, y = real_batch(args.image_size, args.batch_size, Path(args.data_root))
    if args.stage == 2:
        network, blocks, loss_fn = MedDisSeg(), STAGE2_BLOCKS, MedDisSegLoss()
    else:
        network, blocks, loss_fn = MedDisSegStage1(), STAGE1_BLOCKS, MedDisSegStage1Loss()
    if hasattr(network, "auxiliary_outputs"):
        network.auxiliary_outputs = True
    network.train()

    modules = {}
    for attribute in blocks:
        value = getattr(network, attribute)
        if isinstance(value, nn.ModuleList):
            modules.update({f"{attribute}.{i}": m for i, m in enumerate(value)})
        else:
            modules[attribute] = value
    rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for name, module, inputs in _capture_calls(network, modules, x):
        seconds, flops = time_and_count(module, inputs, args.repeats, args.autocast)
        rows[blocks[name.split(".")[0]]][0] += seconds
        rows[blocks[name.split(".")[0]]][1] += flops
    layer_modules = {
        f"{kind}:{i}": m
        for kind, types in LAYER_KINDS.items()
        for i, m in enumerate(m for m in network.modules() if isinstance(m, types))
    }
    layer_rows: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for name, module, inputs in _capture_calls(network, layer_modules, x):
        seconds, flops = time_and_count(module, inputs, args.repeats, args.autocast)
        layer_rows[name.split(":")[0]][0] += seconds
        layer_rows[name.split(":")[0]][1] += flops

    # the loss on detached outputs, forward + backward, and one Adam step
    with torch.no_grad():
        outputs = network(x)
    outputs = _detached(outputs)
    if args.stage == 1:
        loss_inputs = (outputs, _detached(outputs), y)
    else:
        loss_inputs = (outputs, y)

    def loss_step():
        with autocast_context("cpu", args.autocast):
            loss = loss_fn(*loss_inputs)
        (loss["loss"] if isinstance(loss, dict) else loss).backward()

    loss_step()
    loss_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        loss_step()
        loss_times.append(time.perf_counter() - start)
    rows["losses"][0] = statistics.median(loss_times)
    optimizer = torch.optim.Adam(network.parameters(), 1e-4, fused=not args.unfused_adam)  # as the bundles train
    for p in network.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    step_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        optimizer.step()
        step_times.append(time.perf_counter() - start)
    rows["optimiser (Adam)"][0] = statistics.median(step_times)

    # the real step as a whole, with torch.profiler's operator breakdown
    def whole_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast_context("cpu", args.autocast):
            out = network(x)
            loss = loss_fn(out, out, y) if args.stage == 1 else loss_fn(out, y)
        (loss["loss"] if isinstance(loss, dict) else loss).backward()
        optimizer.step()

    whole_step()  # warm-up
    whole = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        whole_step()
        whole.append(time.perf_counter() - start)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        whole_step()
    operators = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_self = sum(e.self_cpu_time_total for e in operators)

    total_time = sum(t for t, _ in rows.values())
    total_flops = sum(f for _, f in rows.values()) or 1
    result = {
        "machine": describe_precision("cpu"),
        "threads": args.threads,
        "stage": args.stage,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "autocast": args.autocast or "fp32",
        "step_s_median": statistics.median(whole),
        "parts_sum_s": total_time,
        "gflop_per_step": total_flops / 1e9,
        "blocks": {
            k: {"s": t, "time_share": t / total_time, "flop_share": f / total_flops} for k, (t, f) in rows.items()
        },
        "layers": {
            k: {"s": t, "time_share": t / total_time, "flop_share": f / total_flops} for k, (t, f) in layer_rows.items()
        },
        "operators_top15": [
            {"name": e.key, "self_share": e.self_cpu_time_total / total_self, "calls": e.count} for e in operators[:15]
        ],
    }
    return result


def print_result(result: dict) -> None:
    print(
        f"machine: {result['machine']}, {result['threads']} threads; Stage {result['stage']} step at "
        f"{result['image_size']}^2, batch {result['batch_size']}, {result['autocast']}: "
        f"median {result['step_s_median']:.2f} s "
        f"({result['gflop_per_step']:.0f} GFLOP, {result['gflop_per_step'] / result['step_s_median']:.0f} GFLOP/s); "
        f"parts timed alone sum to {result['parts_sum_s']:.2f} s"
    )
    print(f"{'part':34} {'time (s)':>9} {'time share':>11} {'FLOP share':>11}")
    for section in ("blocks", "layers"):
        for name, row in sorted(result[section].items(), key=lambda kv: -kv[1]["s"]):
            print(f"{name:34} {row['s']:9.3f} {row['time_share']:11.1%} {row['flop_share']:11.1%}")
        print()
    print("operators by self CPU time (one whole step under torch.profiler):")
    for op in result["operators_top15"]:
        print(f"  {op['name']:50} {op['self_share']:7.1%}  ({op['calls']} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", type=int, choices=(1, 2), default=2)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--unfused_adam", action="store_true", help="Adam's per-parameter loop instead of fused")
    parser.add_argument("--autocast", default=None, help="None (fp32) or bf16 (fast only where native)")
    parser.add_argument("--data_root", default=str(REPO_ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=None, help="also write the result as JSON here")
    args = parser.parse_args()
    result = profile(args)
    print_result(result)
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
