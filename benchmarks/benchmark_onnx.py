"""Latency of a bundle's eval network in onnxruntime (CPU) beside PyTorch eager, on the same input, in one run.

The network is the bundle's ``network_def`` (``configs/inference.json``) with random weights (latency does not depend
on them), exported with MONAI's ``onnx_export`` and the converter arguments of the bundles' docs. The two runtimes are
timed in alternation (PyTorch, onnxruntime, PyTorch, ...) after warm-up, with the same number of threads, so that a
shared, loaded machine slows both alike: compare the ratio, not the milliseconds, and only within one run.

Needs the onnx extra: ``pip install -e .[onnx]`` (included in ``bash scripts/install.sh test``).

Usage::

    .venv/bin/python benchmarks/benchmark_onnx.py --bundle 2d                 # 1x3x256x256, feature_channels 128
    .venv/bin/python benchmarks/benchmark_onnx.py --bundle ct --size 96       # one 96^3 sliding-window patch
    .venv/bin/python benchmarks/benchmark_onnx.py --bundle 2d --feature_channels 32 --size 64 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from tests.onnx_utils import CONVERTER_KWARGS  # noqa: E402  (the documented converter arguments)

BUNDLES = {"2d": ("meddisseg_2d_segmentation", 3), "ct": ("meddisseg_ct_segmentation", 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", choices=sorted(BUNDLES), default="2d")
    parser.add_argument("--size", type=int, default=None, help="spatial size per axis (default: 256 in 2D, 96 in CT)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--feature_channels", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per runtime")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--output", type=Path, default=None, help="also write the result JSON here")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch
    from monai.bundle import ConfigParser, onnx_export

    from meddisseg_monai.utils import describe_precision

    torch.set_num_threads(args.threads)
    name, channels = BUNDLES[args.bundle]
    configs = REPO_ROOT / "bundle" / name / "configs"
    dims = 2 if args.bundle == "2d" else 3
    size = args.size or (256 if dims == 2 else 96)
    shape = [args.batch, channels] + [size] * dims

    config = ConfigParser()
    config.read_config(str(configs / "inference.json"))
    config.update({"network_def#feature_channels": args.feature_channels})
    torch.manual_seed(0)
    network = config.get_parsed_content("network_def").eval()

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, model_file = Path(tmp) / "model.pt", Path(tmp) / "model.onnx"
        torch.save(network.state_dict(), checkpoint)
        start = time.perf_counter()
        onnx_export(
            net_id="network_def", filepath=str(model_file), ckpt_file=str(checkpoint),
            meta_file=str(configs / "metadata.json"), config_file=str(configs / "inference.json"), use_trace=True,
            input_shape=shape, converter_kwargs=dict(CONVERTER_KWARGS),
            **{"network_def#feature_channels": args.feature_channels},
        )  # fmt: skip
        export_s = time.perf_counter() - start
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        onnx_mb = model_file.stat().st_size / 2**20

    x = torch.rand(shape)
    feed = {"image": x.numpy()}

    def run_torch():
        with torch.no_grad():
            return network(x).numpy()

    def run_onnx():
        return session.run(["pred"], feed)[0]

    diff = float(np.abs(run_torch() - run_onnx()).max())  # also the warm-up of both
    times: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
    for _ in range(args.repeats):
        for key, fn in (("pytorch", run_torch), ("onnxruntime", run_onnx)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "bundle": args.bundle,
        "input_shape": shape,
        "feature_channels": args.feature_channels,
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "export_s": round(export_s, 1),
        "onnx_file_mb": round(onnx_mb, 1),
        "max_abs_logit_diff": diff,
        "median_ms": {k: round(1000 * v, 1) for k, v in median.items()},
        "onnxruntime_over_pytorch": round(median["onnxruntime"] / median["pytorch"], 3),
        "load_average": os.getloadavg(),
        "machine": describe_precision("cpu"),
    }
    print(json.dumps(result, indent=1))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
