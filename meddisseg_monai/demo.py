"""The README's main job: train Med-DisSeg from scratch on real Kvasir-SEG images with the 2D bundle's own workflows
(Stage I -> Stage II -> evaluate -> inference, each a ``python -m monai.bundle run`` process), score it on the 120
official test images beside the untrained network, and draw a learning curve and a contact sheet.

    python -m meddisseg_monai.demo --output_dir demo_output

``scripts/run_demo.sh`` installs the package and calls this. Without Kvasir-SEG under the data root it runs on
synthetic images (``--source synthetic``), which only shows that the pipeline works end to end.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .data.datalist import write_datalist
from .data.demo import prepare_demo_data
from .handlers.history import read_history
from .visualize import contact_sheet, plot_learning_curves

__all__ = ["run_demo"]

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "bundle" / "meddisseg_2d_segmentation"


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _follow_history(history_file: Path, stage: str, epochs: int, stop: threading.Event) -> None:
    """Print each epoch of a running stage as its history file grows."""
    shown = 0
    while not stop.wait(2.0):
        try:
            history = read_history(history_file)
        except (OSError, ValueError):
            continue
        for record in history[shown:]:
            dice = record.get("val_mean_dice")
            _say(
                f"  {stage} epoch {record['epoch']}/{epochs}: "
                f"training loss {record.get('train_loss', float('nan')):.3f}, "
                f"validation mDSC {dice if dice is None else round(dice, 3)} ({record['elapsed_seconds']:.0f} s)"
            )
        shown = len(history)


class _BundleRun:
    """One ``python -m monai.bundle run`` process with ``overrides``, its output in ``<out>/<name>.log``; ``follow``
    (history file, stage, epochs) prints each epoch as it ends; ``threads`` caps its torch threads."""

    def __init__(
        self, name: str, configs: list[Path], overrides: dict, out: Path, follow: tuple | None = None, threads=None
    ) -> None:
        command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str([str(c) for c in configs])]
        for key, value in overrides.items():
            command += [f"--{key}", str(value)]
        env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
        self.name, self.log = name, out / f"{name}.log"
        _say(f"{name} ... (log: {self.log})")
        self.start = time.perf_counter()
        self.stop = threading.Event()
        self.watcher = (
            threading.Thread(target=_follow_history, args=(*follow, self.stop), daemon=True) if follow else None
        )
        with open(self.log, "w") as f:
            self.process = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT, env=env)
        if self.watcher:
            self.watcher.start()

    def wait(self) -> float:
        """Wait for the process; its seconds. A failed run prints its log's tail and stops the demo."""
        code = self.process.wait()
        self.stop.set()
        if self.watcher:
            self.watcher.join()
        seconds = time.perf_counter() - self.start
        if code != 0:
            print("\n".join(self.log.read_text().splitlines()[-40:]), file=sys.stderr)
            raise SystemExit(f"[demo] {self.name} failed (exit {code}); see {self.log}")
        _say(f"{self.name} done in {seconds:.0f} s")
        return seconds


def _bundle_run(name: str, configs: list[Path], overrides: dict, out: Path, follow: tuple | None = None) -> float:
    """:class:`_BundleRun` to its end; returns its seconds."""
    return _BundleRun(name, configs, overrides, out, follow).wait()


def _save_untrained(bundle: Path, path: Path, seed: int) -> None:
    """The network of ``train.json`` as built with ``seed`` and never trained, saved as a bundle checkpoint."""
    import torch
    from monai.bundle import ConfigParser
    from monai.utils import set_determinism

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    parser["network_def"]["encoder_weights"] = None
    set_determinism(seed=seed)
    network = parser.get_parsed_content("network_def")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict()}, path)


def _resize_index(config_file: Path) -> int:
    """The position of ``Resized`` in the ``preprocessing`` transforms of ``config_file`` (for an override)."""
    with open(config_file) as f:
        transforms = json.load(f)["preprocessing"]["transforms"]
    return next(i for i, t in enumerate(transforms) if isinstance(t, dict) and t.get("_target_") == "Resized")


def _summary(eval_dir: Path) -> dict:
    with open(eval_dir / "metrics_summary.json") as f:
        return json.load(f)["per_image"]


def _evenly_spaced(items: list, count: int) -> list:
    """``count`` items evenly spaced through ``items`` (first and last included): a sample not picked by score."""
    return [items[i] for i in np.linspace(0, len(items) - 1, min(count, len(items))).round().astype(int)]


def _figure_cases(eval_dir: Path, dataset_dir: str, picks: list[dict]) -> list[dict]:
    """For each picked test entry: image, truth, the evaluation's saved mask and its Dice."""
    with open(eval_dir / "metrics_per_image.csv") as f:
        rows = {Path(r["image"]).stem: r for r in csv.DictReader(f)}
    cases = []
    for item in picks:
        stem = Path(item["image"]).stem
        image = np.asarray(Image.open(os.path.join(dataset_dir, item["image"])).convert("RGB"))
        label = np.asarray(Image.open(os.path.join(dataset_dir, item["label"])).convert("L")) > 127
        pred = np.asarray(Image.open(eval_dir / "masks" / f"{stem}.png").convert("L")) > 127
        dice = rows.get(stem, {}).get("dice", "")
        title = f"{stem[:14]}  Dice {float(dice):.2f}" if dice not in ("", None) else stem[:14]
        cases.append({"image": image, "label": label, "pred": pred, "title": title})
    return cases


def run_demo(
    output_dir: str = "demo_output",
    source: str = "auto",
    image_size: int = 32,
    stage1_epochs: int = 2,
    stage2_epochs: int = 4,
    train_images: int = 200,
    validation_images: int = 40,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    num_workers: int = 0,
    reference_resize: bool = True,
    figure_images: int = 12,
    seed: int = 0,
    bundle_root: str | None = None,
) -> dict:
    """Run the main job and return its figures (also written to ``<output_dir>/demo_summary.json``).

    Args:
        output_dir: the output folder (replaced).
        source: ``"auto"`` (Kvasir-SEG when the data root has it), ``"kvasir"`` or ``"synthetic"``.
        image_size: the network input size.
        stage1_epochs: epochs of Stage I (the encoder's pre-training).
        stage2_epochs: epochs of Stage II (the full network, from the Stage I encoder).
        train_images: the first N images of Kvasir-SEG's official training split are trained on.
        validation_images: the last N images of the training split validate every epoch (the learning curve and the
            best checkpoint); the 120 official test images are only scored at the end.
        batch_size: images per training step, both stages.
        learning_rate: Adam's learning rate for every parameter group, as the bundle's from-scratch
            recipe ``configs/train_from_scratch.json`` (1e-3) sets it; the reference's 1e-4 is for hundreds of epochs
            from ImageNet weights.
        num_workers: data-loading workers (0: caching and augmentation in the main process, which on 2 cores is
            faster than worker processes competing with the training threads).
        reference_resize: resize images as the reference code does (bilinear without anti-aliasing), ~10x faster to
            load than the bundle's default (anti-aliased); training and evaluation use the same.
        figure_images: test images on the contact sheet, evenly spaced through the split.
        seed: the bundle's seed (the untrained network is built with it too).
        bundle_root: the 2D bundle (default: the repository's ``bundle/meddisseg_2d_segmentation``).
    """
    start = time.perf_counter()
    bundle = Path(bundle_root) if bundle_root else DEFAULT_BUNDLE
    configs = bundle / "configs"
    out = Path(output_dir).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    dataset_dir, datalist = prepare_demo_data(
        str(out), train=train_images, validation=validation_images, source=source, bundle_root=str(bundle)
    )
    with open(datalist) as f:
        splits = json.load(f)
    _say(
        f"data: {dataset_dir} ({len(splits['training'])} training, {len(splits['validation'])} validation, "
        f"{len(splits['test'])} test images; datalist {datalist}), {image_size}x{image_size}"
    )
    common = {
        "bundle_root": bundle,
        "dataset_dir": dataset_dir,
        "datalist": datalist,
        "output_dir": out,
        "num_workers": num_workers,
        "device": "cpu",
    }
    resize = {"preprocessing_resize#0#anti_aliasing": "[False, False]"} if reference_resize else {}
    training = {
        **common,
        **resize,
        "seed": seed,
        "image_size": image_size,
        "batch_size": batch_size,
        "progress_bar": False,
        "dispersive_log_interval": 0,  # the diagnostics' extra backward passes are for long runs
        "learning_rate": learning_rate,  # train_from_scratch.json: every parameter group
    }
    from_scratch = configs / "train_from_scratch.json"
    seconds = {}
    seconds["stage1"] = _bundle_run(
        "stage1",
        [configs / "train.json", configs / "train_stage1.json", from_scratch],
        {**training, "epochs": stage1_epochs, "checkpoint_interval": stage1_epochs},
        out,
        follow=(out / "logs" / "stage1" / "history.json", "stage1", stage1_epochs),
    )
    seconds["stage2"] = _bundle_run(
        "stage2",
        [configs / "train.json", from_scratch],
        {**training, "epochs": stage2_epochs, "checkpoint_interval": stage2_epochs},
        out,
        follow=(out / "logs" / "stage2" / "history.json", "stage2", stage2_epochs),
    )
    # The three runs after training need no result of one another: side by side, one torch thread each (2 cores)
    evaluation = [configs / "train.json", configs / "evaluate.json"]
    untrained = out / "models" / "untrained" / "model.pt"
    _save_untrained(bundle, untrained, seed)
    figure_list = write_datalist(
        out / "data" / "figure_images.json",
        {"test": _evenly_spaced(splits["test"], figure_images)},
        name="demo figure images",
        description="test images evenly spaced through the split",
    )
    inference_resize = f"preprocessing#transforms#{_resize_index(configs / 'inference.json')}#anti_aliasing"
    after_training = {
        "evaluate": (evaluation, {**common, **resize, "save_masks": True}),
        "evaluate_untrained": (
            evaluation,
            {
                **common,
                **resize,
                "image_size": image_size,
                "best_model_file": untrained,
                "eval_dir": out / "eval_untrained",
            },
        ),
        "inference": (
            [configs / "inference.json"],
            {
                **common,
                "datalist": figure_list,
                "save_probabilities": True,
                **({inference_resize: False} if reference_resize else {}),
            },
        ),
    }
    started = time.perf_counter()
    runs = {name: _BundleRun(name, c, o, out, threads=1) for name, (c, o) in after_training.items()}
    try:
        for name, run in runs.items():
            seconds[name] = run.wait()
    except SystemExit:  # one failed: the others are stopped, not left running
        for run in runs.values():
            run.process.terminate()
        raise
    seconds["after_training"] = time.perf_counter() - started

    trained, baseline = _summary(out / "eval"), _summary(out / "eval_untrained")
    stage1_history = read_history(out / "logs" / "stage1" / "history.json")
    stage2_history = [
        {**e, "epoch": e["epoch"] + len(stage1_history)}  # Stage II's epochs follow Stage I's
        for e in read_history(out / "logs" / "stage2" / "history.json")
    ]
    curve = plot_learning_curves(
        {"Stage I (its own head)": stage1_history, "Stage II": stage2_history},
        out / "learning_curve.png",
        quantities=("train_loss", "val_mean_dice"),
        title=f"{len(splits['training'])} training images at {image_size}^2; validation: {len(splits['validation'])} "
        f"held-out training-split images; dashed: the {len(splits['test'])} test images",
        reference_lines={
            "val_mean_dice": {
                f"untrained network, test {baseline['dice']['mean']:.3f}": baseline["dice"]["mean"],
                f"best-validation checkpoint, test {trained['dice']['mean']:.3f}": trained["dice"]["mean"],
            }
        },
    )
    sheet = contact_sheet(
        _figure_cases(out / "eval", dataset_dir, _evenly_spaced(splits["test"], figure_images)),
        out / "contact_sheet.png",
        title=f"test images (evenly spaced, not picked): truth (green), prediction (red); test mDSC "
        f"{trained['dice']['mean']:.3f}",
    )
    result = {
        "test_images": len(splits["test"]),
        "trained": {k: trained[k]["mean"] for k in ("dice", "iou", "dice_source_size", "hd95_source_size")},
        "untrained": {k: baseline[k]["mean"] for k in ("dice", "iou")},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "settings": {
            "image_size": image_size,
            "stage1_epochs": stage1_epochs,
            "stage2_epochs": stage2_epochs,
            "train_images": train_images,
            "validation_images": validation_images,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "source": source,
            "reference_resize": reference_resize,
            "num_workers": num_workers,
        },
        "figures": {"learning_curve": curve, "contact_sheet": sheet},
    }
    with open(out / "demo_summary.json", "w") as f:
        json.dump(result, f, indent=1)

    def fmt(value):
        return "n/a" if value is None else f"{value:.3f}"

    _say(
        f"test images ({len(splits['test'])}): mDSC {fmt(result['trained']['dice'])}, "
        f"mIoU {fmt(result['trained']['iou'])}"
        f" (untrained network: mDSC {fmt(result['untrained']['dice'])}, mIoU {fmt(result['untrained']['iou'])});"
        f" at the original size: Dice {fmt(result['trained']['dice_source_size'])}, HD95 "
        f"{fmt(result['trained']['hd95_source_size'])} px"
    )
    _say(f"learning curve: {curve}")
    _say(f"contact sheet:  {sheet}")
    _say(f"metrics:        {out / 'eval' / 'metrics_summary.json'}, {out / 'eval' / 'metrics_per_image.csv'}")
    _say(f"masks:          {out / 'inference' / 'masks'}/   overlays: {out / 'inference' / 'overlays'}/")
    _say(f"models:         {out / 'models' / 'model.pt'} (Stage II), {out / 'models' / 'model_stage1.pt'} (Stage I)")
    _say(f"demo time (after install): {time.perf_counter() - start:.0f} s")
    return result


def main() -> None:
    """``python -m meddisseg_monai.demo [--output_dir DIR] [--image_size 64] ...`` (see :func:`run_demo`)."""
    import fire

    fire.Fire(run_demo, serialize=lambda _: None)


if __name__ == "__main__":
    main()
