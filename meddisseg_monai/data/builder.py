"""Build datalists from folders of images and masks, and carve validation splits out of training splits."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from .datalist import IMAGE_EXTENSIONS
from .validation import DatalistError

__all__ = ["pair_images_and_masks", "carve_validation", "relative_entry"]


def relative_entry(image: str | os.PathLike, label: str | os.PathLike | None, base_dir: str | os.PathLike) -> dict:
    """A datalist entry with POSIX paths relative to ``base_dir``."""
    entry = {"image": Path(os.path.relpath(image, base_dir)).as_posix()}
    if label is not None:
        entry["label"] = Path(os.path.relpath(label, base_dir)).as_posix()
    return entry


def _by_stem(folder: Path, suffix: str = "") -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        stem = path.stem
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[: -len(suffix)]
        found[stem] = path
    return found


def pair_images_and_masks(
    images_dir: str | os.PathLike,
    masks_dir: str | os.PathLike,
    base_dir: str | os.PathLike,
    mask_suffix: str = "",
    allow_unpaired: bool = False,
) -> list[dict]:
    """Pair every image of ``images_dir`` with the mask of ``masks_dir`` that has the same name stem (plus
    ``mask_suffix``, e.g. ``"_segmentation"`` for ISIC); extensions may differ (``a.jpg`` with ``a.png``).

    Args:
        images_dir: folder of images.
        masks_dir: folder of masks.
        base_dir: the dataset folder the entries' paths are made relative to.
        mask_suffix: what a mask's stem adds to its image's stem.
        allow_unpaired: skip images without a mask instead of failing.

    Returns:
        Entries sorted by image name.

    Raises:
        DatalistError: no images, or images without masks (listed) unless ``allow_unpaired``.
    """
    images = _by_stem(Path(images_dir))
    masks = _by_stem(Path(masks_dir), mask_suffix)
    if not images:
        raise DatalistError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {images_dir}.")
    unpaired = sorted(set(images) - set(masks))
    if unpaired and not allow_unpaired:
        shown = ", ".join(str(images[s].name) for s in unpaired[:10])
        raise DatalistError(
            f"{len(unpaired)} image(s) in {images_dir} have no mask '<name>{mask_suffix}.*' in {masks_dir}: {shown}"
            + (" ..." if len(unpaired) > 10 else "")
        )
    return [relative_entry(images[s], masks[s], base_dir) for s in sorted(images) if s in masks]


def carve_validation(training: Sequence[dict], fraction: float = 0.1, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Split a training list into (training, validation) with a fixed seed: the sound alternative to selecting
    checkpoints on the test split when a dataset releases only train and test.

    Args:
        training: the entries to split.
        fraction: share moved to validation (at least one entry, and at least one left for training).
        seed: shuffling seed.

    Returns:
        ``(training, validation)``, each in the original order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
    if len(training) < 2:
        raise ValueError("need at least two training entries to carve a validation split.")
    count = min(len(training) - 1, max(1, round(len(training) * fraction)))
    chosen = set(random.Random(seed).sample(range(len(training)), count))
    kept = [e for i, e in enumerate(training) if i not in chosen]
    validation = [e for i, e in enumerate(training) if i in chosen]
    return kept, validation
