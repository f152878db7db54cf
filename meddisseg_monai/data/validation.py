"""Checks every datalist entry before a workflow starts: one error naming every bad file, never a crash mid-epoch."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..utils.listing import listing

__all__ = [
    "DatalistError",
    "DatalistReport",
    "check_items",
    "check_unique_names",
    "check_training_batches",
    "IMAGE_MODES",
    "CONVERTED_IMAGE_MODES",
    "MASK_MODES",
]

logger = logging.getLogger(__name__)

#: PIL modes of images the pipeline reads correctly (``EnsureRGBd`` makes them RGB)
IMAGE_MODES = ("RGB", "L", "LA", "RGBA")
#: of those, the ones that are converted (documented behaviour: gray repeated, alpha dropped)
CONVERTED_IMAGE_MODES = ("L", "LA", "RGBA")
#: PIL modes of masks (``BinarizeMaskd`` reduces colour masks to one channel)
MASK_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16", "I;16B", "I;16L")


class DatalistError(ValueError):
    """A datalist has entries that cannot be used; the message lists every one of them."""


@dataclass
class DatalistReport:
    """What :func:`check_items` found besides errors.

    Attributes:
        num_items: entries checked.
        converted: count of images per PIL mode that the pipeline converts to RGB.
        empty_masks: masks without foreground at the threshold (kept: such images count as documented).
    """

    num_items: int = 0
    converted: Counter = field(default_factory=Counter)
    empty_masks: list[str] = field(default_factory=list)


@dataclass
class _Result:
    errors: list[str] = field(default_factory=list)
    converted_mode: str | None = None
    empty_mask: str | None = None


def _open(path: str, role: str, modes: Sequence[str], errors: list[str]) -> Image.Image | None:
    if not isinstance(path, (str, os.PathLike)):
        errors.append(f"{role} is not a file path: {path!r}")
        return None
    if not os.path.isfile(path):
        errors.append(f"{path}: {role} file not found")
        return None
    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated or corrupt file fails here, not in a data loader worker
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        errors.append(f"{path}: {role} cannot be read as an image ({error})")
        return None
    if image.mode not in modes:
        errors.append(f"{path}: {role} mode {image.mode!r} is not supported (expected one of {list(modes)})")
        return None
    return image


def _mask_is_empty(mask: Image.Image, threshold: float) -> bool:
    values = np.asarray(mask)
    if values.ndim == 3:
        values = values[..., : min(3, values.shape[-1])].max(axis=-1) if values.shape[-1] != 2 else values[..., 0]
    return not bool((values.astype(np.float64) > threshold).any())


def _check_one(item: Mapping, require_label: bool, mask_threshold: float) -> _Result:
    result = _Result()
    if not isinstance(item, Mapping) or "image" not in item:
        result.errors.append(f"entry without an 'image' path: {item!r}")
        return result
    image = _open(item["image"], "image", IMAGE_MODES, result.errors)
    if image is not None and image.mode in CONVERTED_IMAGE_MODES:
        result.converted_mode = image.mode
    if "label" not in item:
        if require_label:
            result.errors.append(f"{item['image']}: entry has no 'label' (mask) path")
        return result
    mask = _open(item["label"], "mask", MASK_MODES, result.errors)
    if image is not None and mask is not None:
        if image.size != mask.size:
            result.errors.append(
                f"{item['image']}: image is {image.size[0]}x{image.size[1]} but its mask {item['label']} is "
                f"{mask.size[0]}x{mask.size[1]} (width x height)"
            )
        elif _mask_is_empty(mask, mask_threshold):
            result.empty_mask = str(item["label"])
    return result


def check_items(
    items: Sequence[Mapping],
    require_label: bool = True,
    mask_threshold: float = 127,
    what: str = "datalist",
    num_threads: int | None = None,
) -> DatalistReport:
    """Open and decode every image (and mask) of ``items``; raise one error that names every bad entry.

    Errors: a missing or unreadable file, an image mode the pipeline cannot read correctly (palette, CMYK, 16-bit,
    float), an image and mask of different sizes, a missing ``label`` when ``require_label``, an empty list, or masks
    that are all empty at ``mask_threshold`` (usually 0/1 masks read with the 8-bit threshold).

    Handled as documented, reported in the returned :class:`DatalistReport` and logged: grayscale and RGBA images
    (made RGB: gray repeated, alpha dropped) and individual empty masks (kept; the paper's metric scores an empty
    prediction of an empty mask as 1).

    Args:
        items: ``[{"image": path, "label": path}, ...]`` with absolute (or working-directory relative) paths.
        require_label: whether every entry needs a mask.
        mask_threshold: threshold of the mask binarisation, to find empty masks.
        what: how to name the list in messages (e.g. ``"datalist.json [training]"``).
        num_threads: decoding threads (default: the CPU count).

    Raises:
        DatalistError: anything unusable, all of it in one message.
    """
    if len(items) == 0:
        raise DatalistError(f"{what} is empty: there is nothing to train on, evaluate or infer.")
    workers = max(1, num_threads or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda item: _check_one(item, require_label, mask_threshold), items))
    errors = [e for r in results for e in r.errors]
    report = DatalistReport(num_items=len(items))
    report.converted.update(r.converted_mode for r in results if r.converted_mode)
    report.empty_masks = [r.empty_mask for r in results if r.empty_mask]
    if require_label and not errors and len(report.empty_masks) == len(items):
        errors.append(
            f"all {len(items)} masks are empty at mask_threshold={mask_threshold} (values above it are foreground); "
            "masks stored as 0/1 or as instance ids need --mask_threshold 0 (GlaS: --dataset_name glas)"
        )
    if errors:
        raise DatalistError(f"{what}: {len(errors)} problem(s) found before starting:{listing(errors)}")
    if report.converted:
        logger.warning(
            "%s: %s image(s) converted to RGB (grayscale repeated, alpha dropped): %s",
            what,
            sum(report.converted.values()),
            dict(report.converted),
        )
    if report.empty_masks:
        logger.warning(
            "%s: %d mask(s) have no foreground (kept; counted as documented):%s",
            what,
            len(report.empty_masks),
            listing(report.empty_masks),
        )
    return report


def check_unique_names(paths: Iterable[str], what: str = "inputs") -> None:
    """Raise :class:`DatalistError` when two inputs share a file name stem (their outputs would overwrite)."""
    by_stem: dict[str, list[str]] = {}
    for path in paths:
        by_stem.setdefault(os.path.splitext(os.path.basename(str(path)))[0], []).append(str(path))
    clashes = [f"{stem}: {', '.join(files)}" for stem, files in sorted(by_stem.items()) if len(files) > 1]
    if clashes:
        raise DatalistError(
            f"{what}: {len(clashes)} output name(s) would be written twice (outputs are named after the input "
            f"file):{listing(clashes)}"
        )


def check_training_batches(num_items: int, batch_size: int) -> None:
    """Raise :class:`DatalistError` unless training can make at least one full batch of at least two images.

    Training drops the last incomplete batch (the Dispersive Loss compares the images of a batch, so it needs two or
    more); with fewer images than ``batch_size`` an epoch would have no iteration at all.
    """
    if batch_size < 2:
        raise DatalistError(
            f"batch_size must be at least 2 for training (the Dispersive Loss needs pairs), got {batch_size}."
        )
    if num_items < batch_size:
        raise DatalistError(
            f"the training list has {num_items} image(s), fewer than one batch of {batch_size}: lower --batch_size."
        )
