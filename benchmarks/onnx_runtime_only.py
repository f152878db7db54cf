"""The exported ONNX files, run where PyTorch is not installed: an onnxruntime-only environment (numpy + onnxruntime)
against the PyTorch logits of the same real inputs.

Two steps, two environments:

1. ``prepare`` (the project's ``.venv``): export a bundle's eval network with the documented command
   (``python -m monai.bundle onnx_export ... --use_trace True``), and save real inputs (Kvasir-SEG test frames through
   the 2D bundle's inference preprocessing, or patches of the shared CT volume through the CT bundle's) with
   PyTorch's logits for them, as ``<bundle>_reference.npz`` beside ``<bundle>.onnx``.
2. ``check`` (a separate environment with only numpy and onnxruntime; it refuses to run where torch imports): run each
   ``.onnx`` file in onnxruntime on the saved inputs and compare: max abs logit difference (<= 1e-3) and the Dice of
   the masks (>= 0.999); exit 1 when either fails.

::

    .venv/bin/python benchmarks/onnx_runtime_only.py prepare --bundle 2d \\
        --checkpoint runs/kvasir/models/model.pt --output /tmp/ort
    .venv/bin/python benchmarks/onnx_runtime_only.py prepare --bundle ct --size 64 --feature_channels 32 \\
        --output /tmp/ort
    python3 -m venv /tmp/ort-venv && /tmp/ort-venv/bin/pip install onnxruntime numpy
    /tmp/ort-venv/bin/python benchmarks/onnx_runtime_only.py check --output /tmp/ort

Without ``--checkpoint`` the network is a seeded random initialisation whose output bias is centred on the inputs
(about half the pixels / many classes positive), so that an exporter error would flip mask pixels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLES = {
    "2d": REPO_ROOT / "bundle" / "meddisseg_2d_segmentation",
    "ct": REPO_ROOT / "bundle" / "meddisseg_ct_segmentation",
}
MAX_ABS_DIFFERENCE, MIN_DICE = 1e-3, 0.999


def masks(logits):
    """One-hot masks: ``logits > 0`` for one channel, the argmax otherwise (numpy only)."""
    import numpy as np

    if logits.shape[1] == 1:
        return logits > 0
    labels = logits.argmax(1)
    return np.stack([labels == c for c in range(logits.shape[1])], axis=1)


def mean_dice(a, b) -> float:
    """Dice of the masks, averaged over the classes present in either."""
    import numpy as np

    scores = [
        2 * np.logical_and(a[:, c], b[:, c]).sum() / (a[:, c].sum() + b[:, c].sum())
        for c in range(a.shape[1])
        if a[:, c].sum() + b[:, c].sum()
    ]
    return float(np.mean(scores)) if scores else 1.0


def _inputs(bundle: str, parser, size: int):
    """Real inputs through the bundle's own inference preprocessing: 4 Kvasir-SEG test frames, or 2 CT patches."""
    import torch
    from monai.transforms import ResizeWithPadOrCrop

    data_root = Path(REPO_ROOT.parent / "shared" / "data")
    if bundle == "2d":
        folder = data_root / "Kvasir-SEG"
        ids = (folder / "val.txt").read_text().split()[:4]
        preprocessing = parser.get_parsed_content("preprocessing")
        return torch.stack(
            [preprocessing({"image": str(folder / "images" / f"{i}.jpg")})["image"].as_tensor() for i in ids]
        ).float()
    source = data_root / "CT-TotalSegmentator-examples" / "example_ct.nii.gz"
    image = parser.get_parsed_content("preprocessing")({"image": str(source)})["image"]
    crop = ResizeWithPadOrCrop((size,) * 3)
    return torch.stack([crop(image).as_tensor(), crop(torch.flip(image, [1])).as_tensor()]).float()


def prepare(args: argparse.Namespace) -> None:
    import numpy as np
    import torch
    from monai.bundle import ConfigParser

    sys.path.insert(0, str(REPO_ROOT))
    from tests.onnx_utils import CONVERTER_KWARGS, centred_network

    bundle_dir = BUNDLES[args.bundle]
    configs = bundle_dir / "configs"
    size = args.size or (48 if args.bundle == "2d" else 96)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    parser = ConfigParser()
    parser.read_config(str(configs / "inference.json"))
    parser.update({"image_size": size} if args.bundle == "2d" else {})
    extra = []
    if args.feature_channels:
        parser.update({"network_def#feature_channels": args.feature_channels})
        extra = ["--network_def#feature_channels", str(args.feature_channels)]
    x = _inputs(args.bundle, parser, size)
    network = parser.get_parsed_content("network_def").eval()
    checkpoint = str(Path(args.checkpoint).resolve()) if args.checkpoint else None
    if checkpoint is None:  # seeded random weights, output bias centred on these inputs
        network = centred_network(parser, x)
        checkpoint = str(output / f"{args.bundle}_random.pt")
        torch.save(network.state_dict(), checkpoint)
    else:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        network.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    with torch.no_grad():
        reference = network(x).numpy()
    onnx_file = output / f"{args.bundle}.onnx"
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "onnx_export",
        "network_def",
        "--filepath",
        str(onnx_file),
        "--ckpt_file",
        checkpoint,
        "--meta_file",
        str(configs / "metadata.json"),
        "--config_file",
        str(configs / "inference.json"),
        "--use_trace",
        "True",
        "--input_shape",
        str([1, *x.shape[1:]]),
        "--converter_kwargs",
        str(CONVERTER_KWARGS),
        *extra,
    ]
    print("export:", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=bundle_dir)
    np.savez(output / f"{args.bundle}_reference.npz", image=x.numpy(), logits=reference)
    foreground = float(1 - masks(reference)[:, 0].mean()) if reference.shape[1] > 1 else float(masks(reference).mean())
    print(
        f"wrote {onnx_file} and {output / f'{args.bundle}_reference.npz'} (inputs {list(x.shape)}, logits "
        f"{list(reference.shape)}, foreground fraction {foreground:.2f})"
    )


def check(args: argparse.Namespace) -> None:
    try:
        import torch  # noqa: F401

        raise SystemExit("check runs in an onnxruntime-only environment, and torch imports here: use another venv.")
    except ImportError:
        pass
    import time

    import numpy as np
    import onnxruntime as ort

    results, failed = {}, False
    for onnx_file in sorted(Path(args.output).glob("*.onnx")):
        saved = np.load(onnx_file.with_name(f"{onnx_file.stem}_reference.npz"))
        session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        start = time.perf_counter()
        logits = session.run(None, {"image": saved["image"]})[0]
        seconds = time.perf_counter() - start
        difference = float(np.abs(logits - saved["logits"]).max())
        dice = mean_dice(masks(logits), masks(saved["logits"]))
        ok = difference <= MAX_ABS_DIFFERENCE and dice >= MIN_DICE
        failed |= not ok
        results[onnx_file.stem] = {
            "inputs": list(saved["image"].shape),
            "max_abs_logit_difference": difference,
            "mask_dice": dice,
            "seconds": round(seconds, 2),
            "ok": ok,
        }
    if not results:
        raise SystemExit(f"no .onnx files in {args.output}")
    print(json.dumps({"onnxruntime": ort.__version__, "numpy": np.__version__, "results": results}, indent=1))
    raise SystemExit(1 if failed else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "check"])
    parser.add_argument("--bundle", choices=sorted(BUNDLES), default="2d")
    parser.add_argument("--checkpoint", default=None, help="a bundle checkpoint (default: seeded random weights)")
    parser.add_argument("--feature_channels", type=int, default=None, help="network width (default: the bundle's)")
    parser.add_argument("--size", type=int, default=None, help="2D frame size (default 48) or CT patch size (96)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    (prepare if args.step == "prepare" else check)(args)


if __name__ == "__main__":
    main()
