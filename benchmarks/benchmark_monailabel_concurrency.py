"""Concurrent ``POST /infer`` on a real MONAI Label server: how requests queue, and what ``GET /info/`` waits meanwhile.

Serves the 2D bundle (random weights of a fixed seed: time does not depend on them) on 127.0.0.1 from the MONAI Label
environment (``scripts/install_monailabel.sh``), with real Kvasir-SEG frames as the datastore, for each configuration:

- ``project``: this project's app (``monailabel_app/``): ``/infer`` runs in FastAPI's thread pool, one request per
  model at a time;
- ``monaibundle``: MONAI Label's own sample app, whose ``/infer`` runs on the server's event loop;

each with ``--workers`` 1 or more (uvicorn processes, each with its own copy of the model). Per configuration: one
warm-up request (per worker), then ``--requests`` sequential requests, then as many sent at once with a ``GET /info/``
sent 0.2 s after them. Prints and writes (``--output``) JSON: each latency, the wall time of the concurrent batch,
the ``/info/`` latency, and the load average before and after (the CPU of a development machine is shared: compare
only figures of one run).

Usage::

    .venv/bin/python benchmarks/benchmark_monailabel_concurrency.py  # project and monaibundle, 1 worker
    .venv/bin/python benchmarks/benchmark_monailabel_concurrency.py --configs project:1 project:2 --image_size 256
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.monailabel_utils import (  # noqa: E402
    MonaiLabelServer,
    add_study,
    copy_app,
    download_app,
    install_bundle,
    skip_reason,
)

BUNDLE = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
MODEL = "meddisseg_2d"


def prepare(tmp: Path, app_kind: str, image_size: int, frames: list[Path]) -> tuple[Path, Path]:
    import torch
    from monai.bundle import ConfigParser

    app = copy_app(tmp / "apps") if app_kind == "project" else download_app(tmp / "apps")
    bundle = install_bundle(app, BUNDLE, MODEL)
    for name in ("train.json", "inference.json"):
        path = bundle / "configs" / name
        config = json.loads(path.read_text())
        config.update({k: v for k, v in {"image_size": image_size, "num_workers": 0}.items() if k in config})
        path.write_text(json.dumps(config, indent=4))
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    torch.manual_seed(0)
    (bundle / "models").mkdir(exist_ok=True)
    torch.save(parser.get_parsed_content("network_def").state_dict(), bundle / "models" / "model.pt")
    studies = tmp / "studies"
    for frame in frames:
        add_study(studies, frame.stem, frame)
    return app, studies


def timed(fn, *args, **kwargs) -> dict:
    start = time.monotonic()
    try:
        fn(*args, **kwargs)
        error = None
    except Exception as e:  # noqa: BLE001 - recorded, not raised: the figure of a failing request is its error
        error = str(e)[:300]
    return {"start": start, "seconds": round(time.monotonic() - start, 3), "error": error}


def measure(app_kind: str, workers: int, image_size: int, requests: int, frames: list[Path]) -> dict:
    tmp = Path(tempfile.mkdtemp())
    try:
        app, studies = prepare(tmp, app_kind, image_size, frames)
        conf = {} if app_kind == "project" else {"zoo_source": "github", "sam2": "false"}
        args = ["--workers", str(workers)] if workers > 1 else []
        ids = [f.stem for f in frames]
        with MonaiLabelServer(app, studies, models=MODEL, conf=conf, args=args) as server:
            infer = lambda image_id: server.infer(MODEL, image_id, timeout=900)  # noqa: E731
            # each worker loads its model on its first request (monaibundle answers every 2D request with HTTP 500, at
            # its writer, after the inference: its latencies still show the queueing)
            warmup = [timed(infer, ids[i % len(ids)]) for i in range(workers)]
            load_before = os.getloadavg()
            sequential = [timed(infer, ids[i % len(ids)]) for i in range(requests)]
            info: dict = {}

            def info_later():
                time.sleep(0.2)
                info.update(timed(server.info, timeout=900))

            t = threading.Thread(target=info_later)
            start = time.monotonic()
            t.start()
            with ThreadPoolExecutor(requests) as pool:
                concurrent = list(pool.map(lambda i: timed(infer, ids[i % len(ids)]), range(requests)))
            wall = time.monotonic() - start
            t.join()
            load_after = os.getloadavg()
        for r in warmup + concurrent + sequential + [info]:
            r.pop("start", None)
        return {
            "app": app_kind,
            "workers": workers,
            "image_size": image_size,
            "requests": requests,
            "sequential_seconds": [r["seconds"] for r in sequential],
            "concurrent_seconds": [r["seconds"] for r in concurrent],
            "concurrent_wall_seconds": round(wall, 3),
            "info_seconds_during_concurrent": info.get("seconds"),
            "errors": sorted({r["error"] for r in warmup + concurrent + sequential + [info] if r.get("error")}),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in load_after],
        }
    finally:
        shutil.rmtree(tmp, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["project:1", "monaibundle:1"], help="APP:WORKERS pairs")
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--data_root", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        raise SystemExit(reason)
    kvasir = args.data_root / "Kvasir-SEG"
    frames = [kvasir / "images" / f"{i}.jpg" for i in (kvasir / "val.txt").read_text().split()[: args.requests]]
    results = []
    for config in args.configs:
        app_kind, workers = config.split(":")
        results.append(measure(app_kind, int(workers), args.image_size, args.requests, frames))
        print(json.dumps(results[-1]), flush=True)
    if args.output:
        args.output.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
