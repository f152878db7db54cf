"""Learning evidence: Med-DisSeg against MONAI's UNet on Kvasir-SEG, each trained within the same CPU-time budget.

Not a test: a script that prints figures. Both models are trained by the bundle's own configs (same data pipeline,
augmentation, optimiser, validation metric), built with ``monai.bundle.ConfigWorkflow`` and run under a budget of
CPU seconds of this process (``time.process_time``: all its threads, data loading included with ``num_workers 0``),
so other programs on the machine do not change what each model gets. Med-DisSeg spends ``--stage1_share`` of its
budget on Stage I and the rest on Stage II (encoder initialised from Stage I); UNet gets the whole budget. Nothing is
validated during training; the final weights are scored once on the validation split (the paper's per-image mDSC at
the network size) after the budget.

    python benchmarks/kvasir_time_budget.py --image_size 128 --budget_minutes 40 --models meddisseg,unet

Results go to stdout and, as JSON, to ``--output`` (default ``benchmarks/results/``).
"""

from __future__ import annotations

import os

# idle OpenMP threads sleep instead of spinning: on a shared CPU, spinning threads burn the CPU-time budget
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from ignite.engine import Events  # noqa: E402
from kvasir_equal_epochs import ARMS  # noqa: E402  (benchmarks/ is on the path of a script run from it)
from monai.bundle import ConfigWorkflow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundle" / "meddisseg_2d_segmentation"
CONFIGS = BUNDLE / "configs"

# the equal-epoch benchmark's UNet arm (network, plain Dice + BCE loss, one parameter group)
UNET = {k: v for k, v in ARMS["unet"]["overrides"].items() if k in ("network_def", "loss", "optimizer#params")}
# no "last" checkpoints or resuming inside a timed run: only determinism and the early-stop wiring
INITIALIZE = [
    "$monai.utils.set_determinism(seed=@seed)",
    "$meddisseg_data.check_training_batches(len(@train#dataset), @batch_size)",
    "$@validate#early_stop.set_trainer(@train#trainer)",
]


def _workflow(configs: list[str], overrides: dict) -> ConfigWorkflow:
    workflow = ConfigWorkflow(
        workflow_type="train",
        config_file=[str(CONFIGS / c) for c in configs],
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        **overrides,
    )
    workflow.initialize()
    return workflow


def _train(workflow: ConfigWorkflow, budget_seconds: float) -> dict:
    """Run the workflow's trainer until ``budget_seconds`` of CPU time have been used."""
    trainer = workflow.parser.get_parsed_content("train#trainer")
    start_cpu, start_wall = time.process_time(), time.perf_counter()

    @trainer.on(Events.ITERATION_COMPLETED)
    def _stop_at_budget(engine):
        if time.process_time() - start_cpu >= budget_seconds:
            engine.terminate()

    trainer.run()
    return {
        "cpu_seconds": round(time.process_time() - start_cpu, 1),
        "wall_seconds": round(time.perf_counter() - start_wall, 1),
        "iterations": trainer.state.iteration,
        "epochs": round(trainer.state.iteration / max(1, trainer.state.epoch_length), 2),
        "last_loss": float(trainer.state.output[0]["loss"]) if trainer.state.output else None,
    }


def _validate(workflow: ConfigWorkflow) -> dict:
    evaluator = workflow.parser.get_parsed_content("validate#evaluator")
    start = time.perf_counter()
    evaluator.run()
    metrics = evaluator.state.metrics
    return {
        "val_mean_dice": round(float(metrics["val_mean_dice"]), 4),
        "val_mean_iou": round(float(metrics["val_mean_iou"]), 4),
        "val_loss": round(float(metrics["val_loss"]), 4),
        "validation_wall_seconds": round(time.perf_counter() - start, 1),
    }


def run_model(model: str, args: argparse.Namespace, work: Path) -> dict:
    budget = args.budget_minutes * 60.0
    base = {
        "bundle_root": str(BUNDLE),
        "dataset_dir": args.dataset_dir,
        "datalist": args.datalist,
        "output_dir": str(work / model),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "num_workers": 0,
        "device": "cpu",
        "epochs": 100000,
        "val_interval": 100000,
        "progress_bar": False,
        "resume": False,
        "seed": args.seed,
        "initialize": INITIALIZE,
    }
    result: dict = {"model": model}
    if model == "unet":
        workflow = _workflow(["train.json"], {**base, **UNET})
        result["parameters_M"] = round(
            sum(p.numel() for p in workflow.parser.get_parsed_content("network").parameters()) / 1e6, 2
        )
        result["training"] = _train(workflow, budget)
    else:
        width = {"meddisseg": 128, "meddisseg_w32": 32}[model]
        stage1 = _workflow(["train.json", "train_stage1.json"], base)
        result["stage1"] = _train(stage1, budget * args.stage1_share)
        stage1_file = work / model / "stage1_final.pt"
        torch.save(stage1.parser.get_parsed_content("network").state_dict(), stage1_file)
        workflow = _workflow(
            ["train.json"],
            {
                **base,
                "stage1_model_file": str(stage1_file),
                "network_def#feature_channels": width,
                "encoder_learning_rate": args.encoder_learning_rate,
            },
        )
        result["parameters_M"] = round(
            sum(p.numel() for p in workflow.parser.get_parsed_content("network").parameters()) / 1e6, 2
        )
        result["training"] = _train(workflow, budget * (1 - args.stage1_share))
    result["validation"] = _validate(workflow)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_root = os.environ.get("MEDDISSEG_DATA_ROOT", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset_dir", default=os.path.join(data_root, "Kvasir-SEG"))
    parser.add_argument("--datalist", default=str(REPO / "data_lists" / "kvasir_seg.json"))
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--budget_minutes", type=float, default=40.0, help="CPU minutes of this process per model")
    parser.add_argument("--stage1_share", type=float, default=0.25)
    parser.add_argument("--encoder_learning_rate", type=float, default=1e-4)
    parser.add_argument("--models", default="meddisseg,unet", help="comma-separated: meddisseg, meddisseg_w32, unet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    settings = {k: v for k, v in vars(args).items() if k != "output"}
    settings.update(
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        load_average_at_start=os.getloadavg(),
    )
    print("settings:", json.dumps(settings))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in [m for m in args.models.split(",") if m]:
            result = run_model(model, args, Path(tmp))
            results.append(result)
            print("result:", json.dumps(result), flush=True)
    os.makedirs(args.output, exist_ok=True)
    name = f"kvasir_{args.image_size}px_{args.budget_minutes:g}cpumin_{time.strftime('%Y%m%d-%H%M%S')}.json"
    with open(os.path.join(args.output, name), "w") as f:
        json.dump({"settings": settings, "results": results}, f, indent=1)
    print(f"\n{'model':<16}{'params (M)':>11}{'iterations':>12}{'epochs':>8}{'val mDSC':>10}{'val mIoU':>10}")
    for r in results:
        iterations = r["training"]["iterations"] + r.get("stage1", {}).get("iterations", 0)
        epochs = r["training"]["epochs"] + r.get("stage1", {}).get("epochs", 0)
        v = r["validation"]
        print(
            f"{r['model']:<16}{r['parameters_M']:>11}{iterations:>12}{epochs:>8.2f}{v['val_mean_dice']:>10.4f}{v['val_mean_iou']:>10.4f}"
        )
    print(f"written: {os.path.join(args.output, name)}")


if __name__ == "__main__":
    main()
