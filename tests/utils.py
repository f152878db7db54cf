"""Shared test helpers: the real data beside the project (``../shared/data``), small real datalists, the bundle.

Tests that need ``../shared/data`` call :func:`shared_data_path`: it skips the test when the data is absent, and fails
it instead when ``MEDDISSEG_REQUIRE_DATA=1`` (CI sets it, so data-dependent tests never silently skip there). The data
root is ``$MEDDISSEG_DATA_ROOT`` or ``<repository>/../shared/data``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pytest
import torch

from meddisseg_monai.data import DATA_ROOT_ENV
from meddisseg_monai.utils import bf16_native, describe_precision
from tests.bundle_launcher import run_python_module

__all__ = [
    "REPO_ROOT",
    "BUNDLE_ROOT",
    "REQUIRE_DATA_ENV",
    "DATA_ROOT_ENV",
    "data_root",
    "shared_data_path",
    "kvasir_batch",
    "kvasir_datalist",
    "bundle_overrides",
    "prepare_kvasir_run",
    "checked_output",
    "run_bundle",
    "bundle_copy",
    "run_bundle_distributed",
    "skip_unless_native_bf16",
    "NATIVE_BF16",
    "EMULATED_BF16_REASON",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_ROOT = REPO_ROOT / "bundle" / "meddisseg_2d_segmentation"
REQUIRE_DATA_ENV = "MEDDISSEG_REQUIRE_DATA"

# No test trains or infers in emulated bf16 (~40x slower than fp32 on an AVX2-only CPU): bf16 checks run where the CPU
# computes bf16 natively (AVX512-BF16 or AMX) and skip elsewhere, saying why.
NATIVE_BF16 = bf16_native("cpu")
EMULATED_BF16_REASON = f"bf16 is emulated on this machine ({describe_precision('cpu')}): ~40x slower than fp32"
skip_unless_native_bf16 = unittest.skipUnless(NATIVE_BF16, EMULATED_BF16_REASON)


def data_root() -> Path:
    """``$MEDDISSEG_DATA_ROOT`` or ``<repository>/../shared/data`` (the bundles' default inside a checkout)."""
    return Path(os.environ.get(DATA_ROOT_ENV) or REPO_ROOT.parent / "shared" / "data").resolve()


def shared_data_path(*parts: str) -> Path:
    """The path of ``parts`` under the data root; skip the calling test if it does not exist (fail under
    ``MEDDISSEG_REQUIRE_DATA=1``)."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        message = f"real data not found: {path} (set {DATA_ROOT_ENV} or place ../shared/data beside the repository)"
        if os.environ.get(REQUIRE_DATA_ENV, "") not in ("", "0"):
            pytest.fail(f"{message}; {REQUIRE_DATA_ENV} is set, so data-dependent tests must not skip.")
        pytest.skip(message)
    return path


def kvasir_datalist(path: Path, train: int = 6, validation: int = 2, test: int = 3) -> tuple[Path, Path]:
    """Write a datalist of the first real Kvasir-SEG images of the official split (training from ``train.txt``,
    validation and test from ``val.txt``) to ``path``; return ``(datalist, dataset_dir)``."""
    folder = shared_data_path("Kvasir-SEG")
    train_ids = (folder / "train.txt").read_text().split()[:train]
    test_ids = (folder / "val.txt").read_text().split()[: validation + test]

    def entries(ids: list[str]) -> list[dict]:
        return [{"image": f"images/{i}.jpg", "label": f"masks/{i}.jpg"} for i in ids]

    content = {
        "training": entries(train_ids),
        "validation": entries(test_ids[:validation]),
        "test": entries(test_ids[validation:]),
    }
    path.write_text(json.dumps(content, indent=1))
    return path, folder


_BUNDLE_COPIES: dict[Path, Path] = {}
_RUN_OUTPUTS = ("models", "eval", "logs", "inference", "__pycache__")


def bundle_copy(bundle_root: Path = BUNDLE_ROOT) -> Path:
    """A copy of the bundle folder outside the repository, made once per test process (as MONAI Label and
    ``monai.bundle download`` place a bundle): no default data path reaches the repository from there."""
    bundle_root = Path(bundle_root).resolve()
    if bundle_root not in _BUNDLE_COPIES:
        folder = Path(tempfile.mkdtemp(prefix="meddisseg-bundle-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        copy = folder / bundle_root.name
        shutil.copytree(bundle_root, copy, ignore=lambda _, names: [n for n in names if n in _RUN_OUTPUTS])
        (copy / "models").mkdir()
        _BUNDLE_COPIES[bundle_root] = copy
    return _BUNDLE_COPIES[bundle_root]


def run_bundle(
    configs: list[str],
    *args: str,
    timeout: int = 600,
    launcher: list[str] | None = None,
    bundle_root: Path = BUNDLE_ROOT,
    in_repository: bool = False,
) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run --config_file [configs] <args>`` in the bundle folder (the documented way): the 2D
    bundle's, or ``bundle_root``; ``launcher`` replaces ``python`` (e.g. by torchrun's command line).

    The bundle runs from a copy outside the repository (:func:`bundle_copy`), so every test that passes its data
    paths also shows that the bundle is self-contained; ``in_repository`` runs the repository's own folder (its
    defaults: ``data_lists/`` and ``../shared/data``)."""
    config_files = "[" + ",".join(f"'configs/{c}'" for c in configs) + "]"
    command = [*(launcher or [sys.executable]), "-m", "monai.bundle", "run", "--config_file", config_files, *args]
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: CI machines are often shared
    if not in_repository:
        env.pop(DATA_ROOT_ENV, None)
    cwd = bundle_root if in_repository else bundle_copy(bundle_root)
    if launcher is None:  # a fork of a warm interpreter (tests/bundle_launcher.py), else a fresh one
        return run_python_module("monai.bundle", command[3:], cwd=cwd, env=env, timeout=timeout)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_bundle_distributed(configs: list[str], *args: str, nproc: int = 2, **kwargs) -> subprocess.CompletedProcess:
    """:func:`run_bundle` under ``torchrun --standalone --nproc_per_node=<nproc>`` (Gloo on CPUs), as documented."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return run_bundle(configs, *args, launcher=launcher, **kwargs)


def kvasir_batch(count: int = 4, size: int = 256, with_masks: bool = False, split: str | None = None):
    """``count`` Kvasir-SEG images as an RGB float batch in [0, 1] at ``size``^2, and optionally their binary masks
    (JPEG masks thresholded at 128): the first by sorted id, or the first of the official ``split`` (``"train"`` or
    ``"val"``, from ``<split>.txt``)."""
    from PIL import Image

    folder = shared_data_path("Kvasir-SEG")
    if split is None:
        ids = sorted(p.stem for p in (folder / "images").glob("*.jpg"))[:count]
    else:
        ids = (folder / f"{split}.txt").read_text().split()[:count]
    images, masks = [], []
    for image_id in ids:
        image = Image.open(folder / "images" / f"{image_id}.jpg").convert("RGB").resize((size, size), Image.BILINEAR)
        images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0)
        if with_masks:
            mask = Image.open(folder / "masks" / f"{image_id}.jpg").convert("L").resize((size, size), Image.NEAREST)
            masks.append(torch.from_numpy((np.array(mask) >= 128).astype(np.float32))[None])
    batch = torch.stack(images)
    return (batch, torch.stack(masks)) if with_masks else batch


def bundle_overrides(
    datalist: Path, dataset_dir: Path, output_dir: Path, image_size: int = 64, batch_size: int = 2
) -> list[str]:
    """The overrides the 2D bundle tests share: real data, small images, no worker processes, the CPU."""
    return [
        "--dataset_dir", str(dataset_dir), "--datalist", str(datalist), "--output_dir", str(output_dir),
        "--image_size", str(image_size), "--batch_size", str(batch_size), "--num_workers", "0", "--device", "cpu",
    ]  # fmt: skip


def prepare_kvasir_run(cls: type, train: int = 6, validation: int = 2, test: int = 3, **overrides) -> None:
    """In a ``setUpClass``: a temporary folder ``cls.tmp`` (removed after the class), a datalist of real Kvasir-SEG
    images (:func:`kvasir_datalist`) as ``cls.datalist`` / ``cls.dataset_dir``, the run folder ``cls.out`` and the
    bundle overrides ``cls.common`` (:func:`bundle_overrides`, with ``overrides``)."""
    folder = tempfile.TemporaryDirectory()
    cls.addClassCleanup(folder.cleanup)
    cls.tmp = Path(folder.name)
    cls.datalist, cls.dataset_dir = kvasir_datalist(cls.tmp / "datalist.json", train, validation, test)
    cls.out = cls.tmp / "run"
    cls.common = bundle_overrides(cls.datalist, cls.dataset_dir, cls.out, **overrides)


def checked_output(result: subprocess.CompletedProcess, what: str) -> str:
    """The output of a finished bundle run; an ``AssertionError`` with its tail when it failed."""
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"{what} failed (exit {result.returncode}):\n{output[-6000:]}")
    return output


#: the columns of both bundles' metrics_per_image.csv (the CT bundle adds ``<column>_<organ>`` after each metric)
REPORT_COLUMNS = ["image", "iou", "dice", "recall", "precision", "dice_source_size", "hd95_source_size"]
#: the fields of the provenance.json beside every metrics file
PROVENANCE_FIELDS = {"config", "versions", "bundle_root", "checkpoint", "datalist", "device", "precision"}


def report_base_columns(columns: list[str], class_names: list[str] = ()) -> list[str]:
    """The columns of a metrics CSV without its per-class ``<metric>_<class>`` columns."""
    return [c for c in columns if not any(c.endswith(f"_{name}") for name in class_names)]
