"""How many training steps, and how many seconds on this machine, a network needs to reach a test mDSC.

The main job's goal (issue 11: mDSC >= 0.5 on the 120 official Kvasir-SEG test images within 10 minutes of wall time
on 2 CPU cores) is a budget of steps as much as of recipe. This measures both sides with one plain loop, the same for
every model: Kvasir-SEG's first ``--train_images`` official training images and the 120 test images are loaded once at
``--image_size`` (bilinear / nearest, ImageNet-normalised RGB), and each step draws a batch with replacement and flips
it at random (horizontal, vertical); Adam with a one-cycle schedule over ``--steps``. Every ``--eval_every`` steps the
network scores the 120 test images with the paper's per-image Dice (:func:`meddisseg_monai.metrics.overlap_scores`,
threshold 0.5 on the sigmoid). Printed and written to ``--output``: step, seconds of training so far (evaluation
excluded), training loss, test mDSC, and the first step at which mDSC reaches ``--target``.

Arms: ``meddisseg`` (the Stage II network from scratch with the Stage II objective, :class:`MedDisSegLoss`, no
Stage I) and ``unet`` (MONAI's UNet as in ``kvasir_equal_epochs.py``, with the same DiceBCE as its mask term). This
is no bundle workflow (see ``kvasir_equal_epochs.py`` for those): it isolates learning per step from the rest of the
pipeline.

Usage::

    .venv/bin/python benchmarks/kvasir_steps_to_dice.py --arm unet --steps 600 --output unet.json
    .venv/bin/python benchmarks/kvasir_steps_to_dice.py --arm meddisseg --steps 600 --output meddisseg.json
    .venv/bin/python benchmarks/kvasir_steps_to_dice.py --plot_from meddisseg.json unet.json --png steps.png

The last draws test mDSC against steps and against seconds of training, one line per results file.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import UNet
from PIL import Image

from meddisseg_monai.losses import MedDisSegLoss, segmentation_loss
from meddisseg_monai.metrics import overlap_scores
from meddisseg_monai.networks import MedDisSeg
from meddisseg_monai.utils import describe_precision
from meddisseg_monai.visualize.figures import plt, save_figure

REPO = Path(__file__).resolve().parents[1]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_split(dataset_dir: Path, items: list[dict], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, size, size)`` normalised, masks ``(N, 1, size, size)`` in {0, 1}."""
    images, masks = [], []
    for item in items:
        image_path, label_path = dataset_dir / item["image"], dataset_dir / item["label"]
        try:
            image = Image.open(image_path).convert("RGB").resize((size, size), Image.BILINEAR)
            mask = Image.open(label_path).convert("L").resize((size, size), Image.NEAREST)
        except OSError as error:
            raise SystemExit(f"cannot read {image_path} / {label_path}: {error}") from error
        images.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255)
        masks.append(torch.from_numpy((np.asarray(mask) > 127).astype(np.float32))[None])
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (torch.stack(images) - mean) / std, torch.stack(masks)


def score_test_images(network: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, batch: int = 20) -> float:
    """The paper's mean per-image Dice at threshold 0.5 (eval mode; the network is put back in train mode)."""
    network.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            prediction = network(images[start : start + batch]) > 0  # logits: sigmoid > 0.5
            scores.append(overlap_scores(prediction, masks[start : start + batch])[:, 0, 1])
    network.train()
    return float(torch.cat(scores).mean())


def build_arm(arm: str, norm: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The network (train mode) and a loss taking ``(network output, mask)``."""
    if arm == "meddisseg":
        return MedDisSeg(auxiliary_outputs=True, norm=norm).train(), MedDisSegLoss()
    if arm == "unet":
        network = UNet(2, 3, 1, channels=(32, 64, 128, 256, 512), strides=(2, 2, 2, 2), num_res_units=2)
        return network.train(), segmentation_loss(out_channels=1)
    raise SystemExit(f"unknown --arm {arm!r}: meddisseg or unet")


def plot_results(result_files: list[str], png: str) -> str:
    """Test mDSC against steps and against training seconds, one line per results file, with the target dashed."""
    figure, axes = plt.subplots(1, 2, figsize=(10.4, 4.0))
    target = None
    for path in result_files:
        result = json.loads(Path(path).read_text())
        settings, history = result["settings"], result["history"]
        target = settings["target"]
        label = f"{settings['arm']} ({result['seconds_per_step']} s a step)"
        for axis, x_key in zip(axes, ("step", "train_seconds")):
            axis.plot([h[x_key] for h in history], [h["mdsc"] for h in history], marker="o", markersize=3, label=label)
    for axis, x_label in zip(axes, ("training step", "seconds of training (evaluation excluded)")):
        if target is not None:
            axis.axhline(target, linestyle="--", color="grey", linewidth=1)
        axis.set_xlabel(x_label)
        axis.set_ylabel("test mDSC (120 official images)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return save_figure(figure, png, "Kvasir-SEG, one plain loop per network")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_root = os.environ.get("MEDDISSEG_DATA_ROOT", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset_dir", default=os.path.join(data_root, "Kvasir-SEG"))
    parser.add_argument("--datalist", default=str(REPO / "data_lists" / "kvasir_seg.json"))
    parser.add_argument("--arm", default="meddisseg", choices=("meddisseg", "unet"))
    parser.add_argument("--norm", default="batch", help="MedDisSeg's norm (batch, the paper's; instance)")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--train_images", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--plot_from", nargs="+", help="draw these results files (no training) into --png")
    parser.add_argument("--png", default="kvasir_steps_to_dice.png")
    args = parser.parse_args()
    if args.plot_from:
        print(f"[steps] wrote {plot_results(args.plot_from, args.png)}")
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    datalist = json.loads(Path(args.datalist).read_text())
    dataset_dir = Path(args.dataset_dir)
    train_x, train_y = load_split(dataset_dir, datalist["training"][: args.train_images], args.image_size)
    test_x, test_y = load_split(dataset_dir, datalist["test"], args.image_size)
    network, loss_function = build_arm(args.arm, args.norm)
    optimizer = torch.optim.Adam(network.parameters(), args.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.learning_rate, total_steps=args.steps)
    generator = torch.Generator().manual_seed(args.seed)
    settings = {**vars(args), "precision": describe_precision("cpu"), "torch": torch.__version__}
    print(f"[steps] {args.arm}: {settings['precision']}, fp32, {args.threads} threads, {args.image_size}^2", flush=True)

    history, train_seconds, reached = [], 0.0, None
    for step in range(1, args.steps + 1):
        index = torch.randint(0, len(train_x), (args.batch_size,), generator=generator)
        images, masks = train_x[index], train_y[index]
        for dim in (-1, -2):
            flip = torch.rand(args.batch_size, generator=generator) < 0.5
            images[flip], masks[flip] = images[flip].flip(dim), masks[flip].flip(dim)
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_function(network(images), masks)
        loss.backward()
        optimizer.step()
        schedule.step()
        train_seconds += time.perf_counter() - start
        if step % args.eval_every == 0 or step == args.steps:
            mdsc = score_test_images(network, test_x, test_y)
            history.append({"step": step, "train_seconds": round(train_seconds, 1), "loss": loss.item(), "mdsc": mdsc})
            if reached is None and mdsc >= args.target:
                reached = history[-1]
            print(
                f"[steps] {args.arm} step {step}: {train_seconds:.0f} s, loss {loss.item():.3f}, test mDSC {mdsc:.3f}",
                flush=True,
            )
    summary = {
        "settings": settings,
        "history": history,
        "first_at_target": reached,
        "seconds_per_step": round(train_seconds / args.steps, 3),
    }
    print(
        f"[steps] {args.arm}: {summary['seconds_per_step']} s a step; mDSC >= {args.target} first at "
        f"{'step %d (%.0f s)' % (reached['step'], reached['train_seconds']) if reached else 'no evaluated step'}"
    )
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2))
        print(f"[steps] wrote {args.output}")


if __name__ == "__main__":
    main()
