"""Helpers shared by the tests: the real data beside the repository, and small real inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``$MEDDISSEG_DATA_ROOT`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("MEDDISSEG_DATA_ROOT", REPO_ROOT.parent / "shared" / "data"))


def data_required() -> bool:
    """CI sets ``MEDDISSEG_REQUIRE_DATA=1``: then missing data fails tests instead of skipping them."""
    return os.environ.get("MEDDISSEG_REQUIRE_DATA", "0").strip().lower() in ("1", "true", "yes")


def shared_data_path(*parts: str) -> Path:
    """Path of a file or folder of the shared data; skips the test when it is absent (fails under CI)."""
    path = shared_data_root().joinpath(*parts)
    if not path.exists():
        message = f"shared data not found: {path} (set MEDDISSEG_DATA_ROOT or place ../shared/data beside the repo)"
        if data_required():
            pytest.fail(message + "; MEDDISSEG_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(message)
    return path


def kvasir_batch(count: int = 4, size: int = 256, with_masks: bool = False):
    """The first ``count`` Kvasir-SEG images (by sorted id) as an RGB float batch in [0, 1] at ``size``^2, and
    optionally their binary masks (JPEG masks thresholded at 128)."""
    from PIL import Image

    folder = shared_data_path("Kvasir-SEG")
    ids = sorted(p.stem for p in (folder / "images").glob("*.jpg"))[:count]
    images, masks = [], []
    for image_id in ids:
        image = Image.open(folder / "images" / f"{image_id}.jpg").convert("RGB").resize((size, size), Image.BILINEAR)
        images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0)
        if with_masks:
            mask = Image.open(folder / "masks" / f"{image_id}.jpg").convert("L").resize((size, size), Image.NEAREST)
            masks.append(torch.from_numpy((np.array(mask) >= 128).astype(np.float32))[None])
    batch = torch.stack(images)
    return (batch, torch.stack(masks)) if with_masks else batch
