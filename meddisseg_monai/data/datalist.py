"""Datalists: MONAI Decathlon-style JSON files of ``{"image", "label"}`` entries, relative to a dataset folder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai.data import load_decathlon_datalist

from .validation import DatalistError, check_items, check_unique_names

__all__ = [
    "SPLITS",
    "IMAGE_EXTENSIONS",
    "load_datalist",
    "read_datalist_json",
    "inference_datalist",
    "list_images",
    "write_datalist",
]

#: the splits a datalist may hold
SPLITS = ("training", "validation", "test")
#: file extensions taken as images when listing a folder
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def load_datalist(
    datalist: str | os.PathLike,
    split: str,
    dataset_dir: str | os.PathLike,
    check: bool = True,
    mask_threshold: float = 127,
    require_label: bool = True,
) -> list[dict]:
    """Read one split of a datalist, with paths joined to ``dataset_dir``, and check every entry.

    Args:
        datalist: the JSON file (``{"training": [{"image": "images/a.jpg", "label": "masks/a.jpg"}, ...],
            "validation": [...], "test": [...]}``).
        split: ``"training"``, ``"validation"`` or ``"test"``.
        dataset_dir: the folder the paths are relative to.
        check: open and decode every file first (:func:`~meddisseg_monai.data.check_items`).
        mask_threshold: the mask binarisation threshold (to report empty masks).
        require_label: whether every entry must have a mask.

    Returns:
        ``[{"image": abs_path, "label": abs_path}, ...]``.

    Raises:
        FileNotFoundError: the datalist or the dataset folder does not exist.
        DatalistError: the split is absent or empty, or entries are unusable (every one named).
    """
    datalist = str(datalist)
    if not os.path.isfile(datalist):
        raise FileNotFoundError(f"datalist {datalist} not found (pass --datalist PATH).")
    if not os.path.isdir(dataset_dir):
        raise FileNotFoundError(f"dataset folder {dataset_dir} not found (pass --dataset_dir PATH).")
    content = read_datalist_json(datalist)
    if split not in content:
        splits = [k for k in content if isinstance(content[k], list)]
        raise DatalistError(f"{datalist} has no {split!r} list (it has {splits}).")
    items = load_decathlon_datalist(
        datalist, is_segmentation=True, data_list_key=split, base_dir=os.path.abspath(dataset_dir)
    )
    if check:
        check_items(items, require_label, mask_threshold, what=f"{datalist} [{split}]")
    return items


def read_datalist_json(datalist: str | os.PathLike) -> dict:
    """The JSON object of a datalist file.

    Raises:
        FileNotFoundError: no such file.
        DatalistError: not valid JSON (the message names the file, line and column) or not a JSON object.
    """
    path = os.fspath(datalist)
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"datalist {path} not found (pass --datalist PATH).") from error
    except UnicodeDecodeError as error:
        raise DatalistError(f"datalist {path} is not a text (UTF-8 JSON) file: {error}") from error
    except json.JSONDecodeError as error:
        raise DatalistError(
            f"datalist {path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} "
            f"(character {error.pos})."
        ) from error
    if not isinstance(content, dict):
        raise DatalistError(f"datalist {path} holds a JSON {type(content).__name__}, not an object of splits.")
    return content


def list_images(path: str | os.PathLike) -> list[str]:
    """An image file itself, or every image file under a folder (recursive, sorted), as absolute paths.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DatalistError: a folder without images.
    """
    path = Path(path)
    if path.is_file():
        return [str(path.resolve())]
    if not path.is_dir():
        raise FileNotFoundError(f"input {path} is neither an image file nor a folder.")
    files = sorted(str(p.resolve()) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DatalistError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {path}.")
    return files


def inference_datalist(
    input: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    dataset_dir: str | os.PathLike | None = None,
    split: str = "test",
    check: bool = True,
) -> list[dict]:
    """The images to segment: ``input`` (an image or a folder) if given, else the ``split`` of ``datalist``.

    Every image is opened and decoded first, and two inputs with the same file name stem are an error (outputs are
    named after the input).

    Returns:
        ``[{"image": abs_path}, ...]``.

    Raises:
        ValueError: neither ``input`` nor ``datalist`` given.
        DatalistError: unreadable images or clashing names (all listed).
    """
    if input:
        items = [{"image": p} for p in list_images(input)]
        what = str(input)
    elif datalist:
        if dataset_dir is None:
            raise ValueError("a datalist needs its dataset_dir.")
        entries = load_datalist(datalist, split, dataset_dir, check=False, require_label=False)
        items = [{"image": e["image"]} for e in entries]
        what = f"{datalist} [{split}]"
    else:
        raise ValueError("inference needs --input (an image or a folder) or --datalist.")
    if check:
        check_items(items, require_label=False, what=what)
        check_unique_names([i["image"] for i in items], what=what)
    return items


def write_datalist(
    path: str | os.PathLike, splits: Mapping[str, Sequence[Mapping[str, str]]], **info: object
) -> str:
    """Write a datalist JSON: descriptive ``info`` fields first (``name``, ``description``, ...), then the splits.

    Returns:
        The path written.
    """
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown splits {unknown}; a datalist holds {SPLITS}.")
    order = ("name", "description", "protocol")
    header = {k: info[k] for k in order if k in info}
    header.update({k: v for k, v in info.items() if k not in order})
    header.update({f"num_{k}": len(v) for k, v in splits.items()})
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in header.items()]
    for key, entries in splits.items():
        rows = ",\n".join(f"    {json.dumps(dict(e))}" for e in entries)
        lines.append(f"  {json.dumps(key)}: [\n{rows}\n  ]" if entries else f"  {json.dumps(key)}: []")
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    return str(path)
