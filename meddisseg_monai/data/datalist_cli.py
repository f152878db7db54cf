"""``meddisseg-datalist``: build, split and check datalists from the command line (a ``fire`` CLI).

Examples::

    # any folder of images and masks -> a datalist with a 10% validation split
    meddisseg-datalist build --images_dir my_data/images --masks_dir my_data/masks --output my_data/datalist.json

    # the five datasets' datalists from their release folders
    meddisseg-datalist official --data_root ../shared/data --output_dir data_lists

    # carve a validation split out of a datalist's training list
    meddisseg-datalist split data_lists/glas.json --output glas_val.json --fraction 0.1

    # open and decode every file of a datalist (what the workflows do before starting)
    meddisseg-datalist check data_lists/kvasir_seg.json --dataset_dir ../shared/data/Kvasir-SEG
"""

from __future__ import annotations

import json
import os

import fire

from .builder import carve_validation, pair_images_and_masks
from .datalist import SPLITS, load_datalist, write_datalist
from .official import build_official_datalists

__all__ = ["build", "official", "split", "check", "main"]


def build(
    images_dir: str,
    masks_dir: str,
    output: str,
    dataset_dir: str | None = None,
    mask_suffix: str = "",
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    allow_unpaired: bool = False,
    name: str = "",
) -> str:
    """Build a datalist from a folder of images and a folder of masks paired by file name.

    Args:
        images_dir: folder of images (``.jpg``, ``.png``, ...).
        masks_dir: folder of masks with the same name stems (plus ``mask_suffix``).
        output: the JSON file to write.
        dataset_dir: the folder paths are relative to (default: the common parent of the two folders); pass it to the
            bundle as ``--dataset_dir``.
        mask_suffix: what a mask's stem adds to its image's stem (e.g. ``_segmentation``).
        val_fraction: share of the images for ``validation`` (0 for none).
        test_fraction: share of the images for ``test`` (0 for none).
        seed: seed of the random split.
        allow_unpaired: skip images without a mask instead of failing.
        name: a name recorded in the file.

    Returns:
        A one-line summary.
    """
    base = dataset_dir or os.path.commonpath([os.path.abspath(images_dir), os.path.abspath(masks_dir)])
    entries = pair_images_and_masks(images_dir, masks_dir, base, mask_suffix, allow_unpaired)
    splits: dict[str, list[dict]] = {"training": entries}
    if test_fraction:
        splits["training"], splits["test"] = carve_validation(splits["training"], test_fraction, seed)
    if val_fraction:
        splits["training"], splits["validation"] = carve_validation(splits["training"], val_fraction, seed + 1)
    write_datalist(
        output,
        splits,
        name=name or os.path.basename(os.path.abspath(base)),
        description=f"built by meddisseg-datalist from {images_dir} and {masks_dir}; paths relative to {base}",
    )
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    return f"wrote {output} ({sizes}); use --dataset_dir {base} --datalist {output}"


def official(data_root: str, output_dir: str = "data_lists", datasets: str | tuple | None = None) -> str:
    """Write the datalists of the five datasets from their release folders under ``data_root``.

    Args:
        data_root: the folder holding ``Kvasir-SEG/``, ``Kvasir-Sessile/``, ``GlaS/``, ``ISIC-2016-ids/``,
            ``ISIC-2017/``.
        output_dir: where to write the JSON files.
        datasets: a comma-separated subset (default: all).
    """
    if isinstance(datasets, str):
        datasets = tuple(d for d in datasets.split(",") if d)
    written = build_official_datalists(data_root, output_dir, datasets)
    return "\n".join(f"wrote {path}" for path in written)


def split(datalist: str, output: str, fraction: float = 0.1, seed: int = 0) -> str:
    """Carve a ``validation`` list out of a datalist's ``training`` list (the rest is copied unchanged)."""
    with open(datalist) as f:
        content = json.load(f)
    info = {k: v for k, v in content.items() if k not in SPLITS and not k.startswith("num_")}
    splits = {k: content[k] for k in SPLITS if k in content}
    splits["training"], splits["validation"] = carve_validation(content["training"], fraction, seed)
    info["protocol"] = f"validation carved from training by meddisseg-datalist split (seed {seed}, {fraction:.0%})"
    write_datalist(output, splits, **info)
    return f"wrote {output} (training {len(splits['training'])}, validation {len(splits['validation'])})"


def check(datalist: str, dataset_dir: str, splits: str | tuple = SPLITS, mask_threshold: float = 127) -> str:
    """Open and decode every image and mask of a datalist; fail with one message naming every bad file."""
    if isinstance(splits, str):
        splits = tuple(s for s in splits.split(",") if s)
    with open(datalist) as f:
        content = json.load(f)
    present = [s for s in splits if s in content]
    lines = []
    for name in present:
        items = load_datalist(datalist, name, dataset_dir, check=True, mask_threshold=mask_threshold)
        lines.append(f"{name}: {len(items)} entries OK")
    return "\n".join(lines) or f"{datalist} holds none of {list(splits)}"


def main() -> None:
    """Entry point of the ``meddisseg-datalist`` console script."""
    fire.Fire({"build": build, "official": official, "split": split, "check": check})


if __name__ == "__main__":
    main()
