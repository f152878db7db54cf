"""Choose the Dispersive Loss default by measurement on real Kvasir-SEG layer3 features.

For every candidate form of the loss (variant, pooling of the feature map, distance scale, temperature) this measures,
on fixed batches of real Kvasir-SEG validation images, through the Stage II network:

- the **gradient ratio**: |grad of w * L_disp| / |grad of the mask loss| on the parameters of the encoder's last level
  (ResNet layer3, whose output f4 the loss sees), w = the Stage II weight (0.2);
- the **floor fraction** of the InfoNCE forms: (L - log(1/B)) / (0 - log(1/B)) (0 = saturated at the floor);

at initialisation (the reference's ResNet init: kaiming normal, fan_out, BN 1/0) and after every ``--measure_every``
steps of training (Adam 1e-4 on every parameter, batch ``--batch_size``, the Stage II objective with the
``--train_with`` candidate as its dispersive term, augmentation off). Writes one JSON under ``benchmarks/results/``.

No ImageNet weights are available on this machine, so the encoder starts from the reference's random init; the
script takes ``--encoder_weights`` (a local torchvision ResNet-50 file) to repeat the measurement from ImageNet.

Usage::

    .venv/bin/python benchmarks/dispersive_choice.py --image_size 64 --steps 200 --measure_every 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from meddisseg_monai.data import DATA_ROOT_ENV  # noqa: E402
from meddisseg_monai.losses import DispersiveLoss, MedDisSegLoss  # noqa: E402
from meddisseg_monai.losses.diagnostics import dispersive_diagnostics  # noqa: E402
from meddisseg_monai.networks import MedDisSeg  # noqa: E402

# name -> DispersiveLoss arguments
CANDIDATES: dict[str, dict] = {
    "reference_formula": {"variant": "infonce_l2", "temperature": 0.5, "reference_formula": True},
    "l2_flatten_dimension_t0.5": {"variant": "infonce_l2", "temperature": 0.5, "distance_scale": "dimension"},
    "l2_avg_dimension_t0.5": {
        "variant": "infonce_l2",
        "temperature": 0.5,
        "distance_scale": "dimension",
        "pooling": "avg",
    },
    "l2_flatten_unit_t0.5": {"variant": "infonce_l2", "temperature": 0.5, "distance_scale": "unit"},
    "l2_flatten_unit_t0.1": {"variant": "infonce_l2", "temperature": 0.1, "distance_scale": "unit"},
    "l2_avg_unit_t0.1": {"variant": "infonce_l2", "temperature": 0.1, "distance_scale": "unit", "pooling": "avg"},
    "l2_flatten_batch_t0.5": {"variant": "infonce_l2", "temperature": 0.5, "distance_scale": "batch"},
    "l2_flatten_batch_t1": {"variant": "infonce_l2", "temperature": 1.0, "distance_scale": "batch"},
    "l2_flatten_batch_t2": {"variant": "infonce_l2", "temperature": 2.0, "distance_scale": "batch"},
    "l2_avg_batch_t0.5": {"variant": "infonce_l2", "temperature": 0.5, "distance_scale": "batch", "pooling": "avg"},
    "cosine_flatten_t0.5": {"variant": "infonce_cosine", "temperature": 0.5},
    "cosine_flatten_t0.1": {"variant": "infonce_cosine", "temperature": 0.1},
    "cosine_avg_t0.1": {"variant": "infonce_cosine", "temperature": 0.1, "pooling": "avg"},
    "hinge_flatten_batch_m1": {"variant": "hinge", "distance_scale": "batch", "hinge_margin": 1.0},
    "covariance_avg": {"variant": "covariance", "pooling": "avg"},
}


def reference_init(network: torch.nn.Module) -> None:
    """The reference's ResNet init of the encoder: convolutions kaiming normal (fan_out, ReLU), norms 1 and 0."""
    for module in network.encoder.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.GroupNorm)):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)


def load_pairs(folder: Path, ids: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, masks = [], []
    for image_id in ids:
        image = Image.open(folder / "images" / f"{image_id}.jpg").convert("RGB").resize((size, size), Image.BILINEAR)
        mask = Image.open(folder / "masks" / f"{image_id}.jpg").convert("L").resize((size, size), Image.NEAREST)
        images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0)
        masks.append(torch.from_numpy((np.array(mask) >= 128).astype(np.float32))[None])
    return torch.stack(images), torch.stack(masks)


def measure(network, batches, objective) -> dict[str, dict]:
    losses = {name: DispersiveLoss(**kwargs) for name, kwargs in CANDIDATES.items()}
    measured = [
        dispersive_diagnostics(network, x, y, objective.segmentation, losses, objective.dispersive_weight)
        for x, y in batches
    ]
    results = {}
    for name in CANDIDATES:
        per_batch = [m[name] for m in measured]
        summary = {
            "dispersive": statistics.mean(r["dispersive"] for r in per_batch),
            "gradient_ratio": statistics.mean(r["gradient_ratio"] for r in per_batch),
            "gradient_ratio_min": min(r["gradient_ratio"] for r in per_batch),
            "gradient_mask": statistics.mean(r["gradient_mask"] for r in per_batch),
        }
        if per_batch[0]["floor_fraction"] is not None:
            summary["floor_fraction"] = statistics.mean(r["floor_fraction"] for r in per_batch)
            summary["floor_fraction_min"] = min(r["floor_fraction"] for r in per_batch)
        results[name] = summary
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data_root", default=os.environ.get(DATA_ROOT_ENV) or str(REPO_ROOT.parent / "shared" / "data")
    )
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--measure_every", type=int, default=50)
    parser.add_argument("--train_images", type=int, default=160)
    parser.add_argument("--measure_batches", type=int, default=1)
    parser.add_argument("--train_with", default="l2_flatten_batch_t0.5", choices=sorted(CANDIDATES))
    parser.add_argument("--dispersive_weight", type=float, default=0.2)
    parser.add_argument("--encoder_weights", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    folder = Path(args.data_root) / "Kvasir-SEG"
    train_ids = (folder / "train.txt").read_text().split()[: args.train_images]
    val_ids = (folder / "val.txt").read_text().split()[: args.batch_size * args.measure_batches]
    train_x, train_y = load_pairs(folder, train_ids, args.image_size)
    val_x, val_y = load_pairs(folder, val_ids, args.image_size)
    batches = [
        (val_x[i : i + args.batch_size], val_y[i : i + args.batch_size])
        for i in range(0, len(val_ids), args.batch_size)
    ]

    network = MedDisSeg(encoder_weights=args.encoder_weights)
    if args.encoder_weights is None:
        reference_init(network)
    network.train()
    objective = MedDisSegLoss(dispersive=CANDIDATES[args.train_with], dispersive_weight=args.dispersive_weight)
    optimizer = torch.optim.Adam(network.parameters(), 1e-4)
    generator = torch.Generator().manual_seed(args.seed)

    record = {
        "settings": {
            **vars(args),
            "candidates": CANDIDATES,
            "encoder_init": args.encoder_weights or "reference kaiming fan_out",
        },
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads, shared with other agents",
        "checkpoints": [],
    }
    output = args.output or REPO_ROOT / "benchmarks" / "results" / (
        f"dispersive_choice_{args.image_size}px_{args.steps}steps_{args.train_with}.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    started = time.time()
    order = torch.randperm(len(train_ids), generator=generator)
    position, train_losses = 0, []
    for step in range(args.steps + 1):
        if step % args.measure_every == 0 or step == args.steps:
            results = measure(network, batches, objective)
            record["checkpoints"].append({"step": step, "train_loss_recent": train_losses[-10:], "candidates": results})
            print(f"--- step {step} ({time.time() - started:.0f} s)")
            for name, r in results.items():
                fraction = f"{r['floor_fraction']:.4f}" if "floor_fraction" in r else "  -   "
                print(
                    f"  {name:28s} L={r['dispersive']:+.5f} floor_frac={fraction} grad_ratio={r['gradient_ratio']:.3e}"
                )
            sys.stdout.flush()
            Path(output).write_text(json.dumps(record, indent=1))  # partial results survive an interruption
        if step == args.steps:
            break
        if position + args.batch_size > len(order):
            order, position = torch.randperm(len(train_ids), generator=generator), 0
        index = order[position : position + args.batch_size]
        position += args.batch_size
        optimizer.zero_grad(set_to_none=True)
        terms = objective(network(train_x[index]), train_y[index])
        total = terms["loss"] if isinstance(terms, dict) else terms
        total.backward()
        optimizer.step()
        train_losses.append(round(float(total), 5))
        print(f"step {step + 1}: loss {float(total):.4f} ({time.time() - started:.0f} s)", flush=True)
    record["elapsed_s"] = round(time.time() - started, 1)
    Path(output).write_text(json.dumps(record, indent=1))
    print("written", output)


if __name__ == "__main__":
    main()
