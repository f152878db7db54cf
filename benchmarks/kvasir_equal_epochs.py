"""Equal-epoch learning evidence on Kvasir-SEG: Med-DisSeg (full recipe), the same without the Dispersive Loss (the
paper's ablation), MONAI's UNet and MONAI's SegResNet, all from scratch, each for the same number of epochs.

Not a test: a long run that writes figures. Every arm is trained by the 2D bundle's own ``train.json`` (same data
pipeline, augmentation, optimiser, validation), built with ``monai.bundle.ConfigWorkflow``, and validated after every
epoch on the 120 official Kvasir-SEG test images with the paper's per-image mDSC / mIoU at the network size (the
paper's protocol: validation = the reported split, so "best" is optimistic and "final" is not; both are reported).

- ``meddisseg``: Stage I (``train_stage1.json``, ``--stage1_epochs``) then Stage II (``--epochs``) with the encoder
  from Stage I's best checkpoint, Dispersive Loss weight 0.2 in both stages (the reference code's).
- ``meddisseg_no_dispersive``: the same with the dispersive weight 0 in both stages.
- ``unet``: ``monai.networks.nets.UNet`` (32..512 channels, 2 residual units), Dice + BCE.
- ``segresnet``: ``monai.networks.nets.SegResNet`` (32 initial filters), Dice + BCE.

The final weights of each stage go to ``<work_dir>/<arm>/models/model_final_<stage>.pt`` (with the size recorded
beside them, for the evaluate workflow), beside the bundle's best-by-mIoU ``model.pt`` / ``model_stage1.pt``.

Resumable: each stage of each arm keeps the bundle's ``last.pt`` checkpoint every epoch and its per-epoch history
(``logs/<stage>/history.json``) under ``--work_dir``; rerun the same command after an interruption and it goes on from
the last completed epoch. Progress is printed after every epoch.

    python benchmarks/kvasir_equal_epochs.py --image_size 48 --train_images 200 --epochs 15 --threads 1

Writes ``benchmarks/results/kvasir_equal_epochs_<size>px_<epochs>ep.json`` and ``.png`` (validation mDSC and
DiceBCE of the main output per epoch, every arm).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from monai.bundle import ConfigWorkflow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
START = time.perf_counter()
sys.path.insert(0, str(REPO))

from meddisseg_monai.data.datalist import write_datalist  # noqa: E402
from meddisseg_monai.handlers import read_history  # noqa: E402
from meddisseg_monai.utils import describe_precision, write_training_record  # noqa: E402
from meddisseg_monai.visualize import plot_learning_curves  # noqa: E402

BUNDLE = REPO / "bundle" / "meddisseg_2d_segmentation"
CONFIGS = BUNDLE / "configs"
PLAIN_LOSS = {"_target_": "meddisseg_monai.losses.segmentation_loss", "out_channels": 1}
ARMS = {
    "meddisseg": {"stage1": True, "overrides": {"dispersive_weight": 0.2}},
    "meddisseg_no_dispersive": {"stage1": True, "overrides": {"dispersive_weight": 0.0}},
    # the full recipe with a narrower Stage II (feature_channels 32 instead of the paper's 128): a CPU-sized width
    "meddisseg_width32": {
        "stage1": True,
        "overrides": {"dispersive_weight": 0.2},
        "stage2_overrides": {"network_def#feature_channels": 32},
    },
    # the full recipe with instance instead of batch normalisation in both stages (MONAI UNet's default norm)
    "meddisseg_instance_norm": {
        "stage1": True,
        "overrides": {"dispersive_weight": 0.2, "network_def#norm": "instance"},
    },
    "unet": {
        "stage1": False,
        "overrides": {
            "network_def": {
                "_target_": "UNet",
                "spatial_dims": 2,
                "in_channels": 3,
                "out_channels": 1,
                "channels": [32, 64, 128, 256, 512],
                "strides": [2, 2, 2, 2],
                "num_res_units": 2,
            },
            "loss": PLAIN_LOSS,
            "optimizer#params": "$@network.parameters()",
            "dispersive_log_interval": 0,
        },
    },
    # Stage II alone, no Stage I encoder: the reference's learning rate against the from-scratch overlays
    "recipe_reference": {
        "stage1": False,
        "overrides": {"stage1_model_file": None, "learning_rate": 1e-4, "encoder_learning_rate": 1e-4},
    },
    "recipe_from_scratch": {
        "stage1": False,
        "configs": ["train_from_scratch.json"],
        "overrides": {"stage1_model_file": None, "learning_rate": 1e-3, "encoder_learning_rate": 1e-3},
    },
    "recipe_from_scratch_one_cycle": {
        "stage1": False,
        "configs": ["train_from_scratch.json", "train_one_cycle.json"],
        "overrides": {"stage1_model_file": None, "learning_rate": 1e-3, "encoder_learning_rate": 1e-3},
    },
    "segresnet": {
        "stage1": False,
        "overrides": {
            "network_def": {
                "_target_": "SegResNet",
                "spatial_dims": 2,
                "in_channels": 3,
                "out_channels": 1,
                "init_filters": 32,
            },
            "loss": PLAIN_LOSS,
            "optimizer#params": "$@network.parameters()",
            "dispersive_log_interval": 0,
        },
    },
}


def subset_datalist(kvasir_dir: Path, path: Path, train_images: int) -> str:
    """The first ``train_images`` of the official training split (``train.txt`` order) and the 120 official test
    images (``val.txt``) as both validation and test."""
    train_ids = (kvasir_dir / "train.txt").read_text().split()
    if train_images > len(train_ids):
        raise ValueError(f"--train_images {train_images}: the official training split has {len(train_ids)} images.")
    test_ids = (kvasir_dir / "val.txt").read_text().split()

    def entries(ids):
        return [{"image": f"images/{i}.jpg", "label": f"masks/{i}.jpg"} for i in ids]

    return write_datalist(
        path,
        {"training": entries(train_ids[:train_images]), "validation": entries(test_ids), "test": entries(test_ids)},
        name="Kvasir-SEG equal-epoch benchmark",
        description=f"first {train_images} images of train.txt; the 120 official test images (val.txt) as validation",
    )


def run_stage(arm: str, stage: str, epochs: int, spec: dict, args: argparse.Namespace) -> list[dict]:
    """Train one stage of one arm to ``epochs`` epochs (resuming from its last checkpoint) and return its history.
    ``spec``: the arm's ``overrides`` (which win over the command line's settings), ``<stage>_overrides`` (that stage
    only, e.g. ``stage2_overrides``) and extra ``configs``."""
    arm_dir = Path(args.work_dir) / arm
    history_file = arm_dir / "logs" / stage / "history.json"
    done = [e for e in read_history(history_file)]
    final = arm_dir / "models" / f"model_final_{stage}.pt"
    if done and done[-1]["epoch"] >= epochs:
        print(f"[{arm}] {stage}: {epochs} epochs already done", flush=True)
        last = arm_dir / "models" / ("last_stage1.pt" if stage == "stage1" else "last.pt")
        if not final.exists() and last.exists():  # a run that ended before final weights were kept: from last.pt
            torch.save(torch.load(last, map_location="cpu", weights_only=False)["model"], final)
            write_training_record(final, {"stage": stage, "image_size": args.image_size, "epochs": epochs, "arm": arm})
        return done
    configs = (["train.json", "train_stage1.json"] if stage == "stage1" else ["train.json"]) + spec.get("configs", [])
    settings = dict(
        dataset_dir=args.dataset_dir,
        datalist=args.datalist_file,
        output_dir=str(arm_dir),
        image_size=args.image_size,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        epochs=epochs,
        val_interval=1,
        checkpoint_interval=1,
        resume=True,
        progress_bar=False,
        seed=args.seed,
        learning_rate=args.learning_rate,
        encoder_learning_rate=args.learning_rate,
        autocast=args.autocast,
        augmentation_dropout_source_size=args.dropout_source_size,
    )
    workflow = ConfigWorkflow(
        workflow_type="train",
        config_file=[str(CONFIGS / c) for c in configs],
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        bundle_root=str(BUNDLE),
        **{**settings, **spec["overrides"], **spec.get(f"{stage}_overrides", {})},
    )
    workflow.initialize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    evaluator = workflow.parser.get_parsed_content("validate#evaluator")
    from ignite.engine import Events

    epoch_start = [time.perf_counter()]

    @trainer.on(Events.EPOCH_COMPLETED)
    def _progress(engine):
        m = evaluator.state.metrics
        print(
            f"[{arm}] {stage} epoch {engine.state.epoch}/{epochs}: val mDSC {m.get('val_mean_dice', float('nan')):.4f}"
            f" mIoU {m.get('val_mean_iou', float('nan')):.4f} ({time.strftime('%H:%M:%S')})",
            flush=True,
        )
        now = time.perf_counter()
        if args.time_limit_minutes and (now - START) + (now - epoch_start[0]) > 60 * args.time_limit_minutes:
            print(
                f"[{arm}] {stage}: stopping after epoch {engine.state.epoch}, another would pass the time limit of "
                f"{args.time_limit_minutes} minutes",
                flush=True,
            )
            engine.terminate()
        epoch_start[0] = now

    workflow.run()
    history = read_history(history_file)
    if history and history[-1]["epoch"] >= epochs:  # the final weights, beside the best (models/model*.pt)
        torch.save(workflow.parser.get_parsed_content("network").state_dict(), final)
        write_training_record(final, {"stage": stage, "image_size": args.image_size, "epochs": epochs, "arm": arm})
    workflow.finalize()
    return history


def summarise(history: list[dict]) -> dict:
    best = max(history, key=lambda e: e.get("val_mean_iou") or -1.0)
    final = history[-1]
    keys = ("val_mean_dice", "val_mean_iou")
    return {
        "epochs": final["epoch"],
        "best_by_miou": {"epoch": best["epoch"], **{k: best.get(k) for k in keys}},
        "final": {k: final.get(k) for k in keys},
        "wall_seconds": final["elapsed_seconds"],
    }


def write_results(results: dict, settings: dict, args: argparse.Namespace) -> str:
    """Write the JSON and the PNG of the arms finished so far; returns their common path stem."""
    os.makedirs(args.output, exist_ok=True)
    stem = os.path.join(args.output, f"{args.results_name}_{args.image_size}px_{args.epochs}ep")
    with open(stem + ".json", "w") as f:
        json.dump({"settings": settings, "results": results}, f, indent=1)
    plot_learning_curves(
        {arm: r["history"] for arm, r in results.items()},
        stem + ".png",
        quantities=("val_mean_dice", "val_mask_loss"),
        title=f"Kvasir-SEG, {args.train_images} training images at {args.image_size}^2, {args.epochs} epochs "
        + (
            f"(Med-DisSeg: after {args.stage1_epochs} Stage I epochs)"
            if any("stage1" in r for r in results.values())
            else "(Stage II alone, from scratch)"
        )
        + "; 120 official test images",
    )
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_root = os.environ.get("MEDDISSEG_DATA_ROOT", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset_dir", default=os.path.join(data_root, "Kvasir-SEG"))
    parser.add_argument("--image_size", type=int, default=48)
    parser.add_argument("--train_images", type=int, default=200, help="the first N images of the official train split")
    parser.add_argument("--epochs", type=int, default=15, help="epochs of every arm (Stage II for Med-DisSeg)")
    parser.add_argument("--stage1_epochs", type=int, default=5, help="Med-DisSeg's Stage I epochs before Stage II")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=1e-3, help="Adam, every parameter group")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--time_limit_minutes",
        type=float,
        default=0.0,
        help="stop (resumably) after the epoch that another epoch would take past this; 0: none",
    )
    parser.add_argument(
        "--autocast", default="fp32", help="fp32 (the CPU default here), auto (bf16 where native) or bf16"
    )
    parser.add_argument("--num_workers", type=int, default=0, help="data-loading workers")
    parser.add_argument(
        "--dropout_source_size",
        type=int,
        default=32,
        help="coarse-dropout hole size in source pixels (16 for images pre-resized by 1/2)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work_dir", default=str(REPO / "benchmarks" / "work" / "kvasir_equal_epochs"))
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument(
        "--results_name", default="kvasir_equal_epochs", help="<output>/<name>_<size>px_<epochs>ep.json"
    )
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {list(ARMS)}")

    torch.set_num_threads(args.threads)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    args.datalist_file = subset_datalist(
        Path(args.dataset_dir), Path(args.work_dir) / "datalist.json", args.train_images
    )
    settings = {k: v for k, v in vars(args).items() if k not in ("output", "work_dir", "datalist_file", "dataset_dir")}
    settings.update(
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        precision=describe_precision(args.device),
        torch=torch.__version__,
        recipe="train.json defaults (augmentation, reference b-weights, plateau on the full validation loss, best by "
        "val mIoU) with --learning_rate for every group; the 120 official test images validate every epoch",
    )
    print("settings:", json.dumps(settings), flush=True)
    results = {}
    for arm in arms:
        spec = ARMS[arm]
        result: dict = {"configs": ["train.json", *spec.get("configs", [])], "overrides": spec["overrides"]}
        result.update({k: v for k, v in spec.items() if k.endswith("_overrides") and k != "overrides"})
        if spec["stage1"]:
            stage1 = run_stage(arm, "stage1", args.stage1_epochs, spec, args)
            result["stage1"] = {"history": stage1, **summarise(stage1)}
        stage2 = run_stage(arm, "stage2", args.epochs, spec, args)
        result.update(history=stage2, **summarise(stage2))
        result["wall_seconds_all_stages"] = round(
            result["wall_seconds"] + result.get("stage1", {}).get("wall_seconds", 0), 1
        )
        results[arm] = result
        write_results(results, settings, args)
        print(
            f"[{arm}] best mDSC {result['best_by_miou']['val_mean_dice']:.4f} "
            f"(epoch {result['best_by_miou']['epoch']}),"
            f" final mDSC {result['final']['val_mean_dice']:.4f}, {result['wall_seconds_all_stages']:.0f} s",
            flush=True,
        )

    stem = write_results(results, settings, args)
    print(f"\n{'arm':<26}{'best mDSC':>10}{'best mIoU':>10}{'final mDSC':>11}{'final mIoU':>11}{'wall (s)':>10}")
    for arm, r in results.items():
        b, f = r["best_by_miou"], r["final"]
        print(
            f"{arm:<26}{b['val_mean_dice']:>10.4f}{b['val_mean_iou']:>10.4f}{f['val_mean_dice']:>11.4f}"
            f"{f['val_mean_iou']:>11.4f}{r['wall_seconds_all_stages']:>10.0f}"
        )
    print(f"written: {stem}.json, {stem}.png")


if __name__ == "__main__":
    main()
