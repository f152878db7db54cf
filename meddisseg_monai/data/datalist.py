"""Datalists: MONAI Decathlon-style JSON files of ``{"image", "label"}`` entries, relative to a dataset folder."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai.data import load_decathlon_datalist

from .locations import MissingDataOptionError, required_data_paths
from .skipping import describe_skipped
from .validation import DatalistError, check_items

__all__ = [
    "SPLITS",
    "IMAGE_EXTENSIONS",
    "load_datalist",
    "load_split",
    "read_datalist_json",
    "InferenceInputs",
    "inference_datalist",
    "list_images",
    "write_datalist",
]

logger = logging.getLogger(__name__)

#: the splits a datalist may hold
SPLITS = ("training", "validation", "test")
#: file extensions taken as images when listing a folder
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def load_datalist(
    datalist: str | os.PathLike | None,
    split: str,
    dataset_dir: str | os.PathLike | None,
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
        MissingDataOptionError: ``datalist`` or ``dataset_dir`` not given (``None``).
        FileNotFoundError: the datalist or the dataset folder does not exist.
        DatalistError: the split is absent or empty, or entries are unusable (every one named).
    """
    datalist, dataset_dir = required_data_paths(datalist, dataset_dir)
    if not os.path.isfile(datalist):
        raise FileNotFoundError(f"datalist {datalist} not found (pass --datalist PATH).")
    if not os.path.isdir(dataset_dir):
        raise FileNotFoundError(f"dataset folder {dataset_dir} not found (pass --dataset_dir PATH).")
    items = load_split(datalist, split, dataset_dir)
    if check:
        check_items(items, require_label, mask_threshold, what=f"{datalist} [{split}]")
    return items


def load_split(datalist: str | os.PathLike, split: str, dataset_dir: str | os.PathLike) -> list[dict]:
    """``monai.data.load_decathlon_datalist`` of one split, ``image`` and ``label`` joined to ``dataset_dir``
    (absolute paths stay), with errors that name the file: it is read first by :func:`read_datalist_json`.

    Other fields of an entry are kept, joined to ``dataset_dir`` only where that names an existing path (MONAI's rule).

    Raises:
        FileNotFoundError: no such file.
        DatalistError: not valid JSON (file, line and column named), or no list under ``split`` (the lists it has).
    """
    content = read_datalist_json(datalist)
    if not isinstance(content.get(split), list):
        splits = [k for k in content if isinstance(content[k], list)]
        raise DatalistError(f"datalist {os.fspath(datalist)} has no {split!r} list (it has {splits}).")
    return load_decathlon_datalist(
        os.fspath(datalist), is_segmentation=True, data_list_key=split, base_dir=os.path.abspath(dataset_dir)
    )


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


def _inference_items(
    input: str | os.PathLike | None,
    datalist: str | os.PathLike | None,
    dataset_dir: str | os.PathLike | None,
    split: str,
) -> tuple[list[dict], str]:
    if input:
        return [{"image": p} for p in list_images(input)], str(input)
    if datalist:
        entries = load_datalist(datalist, split, dataset_dir, check=False, require_label=False)
        return [{"image": e["image"]} for e in entries], f"{datalist} [{split}]"
    raise MissingDataOptionError(
        "nothing to segment: pass --input (an image or a folder), or --datalist PATH with --dataset_dir PATH."
    )


def inference_datalist(
    input: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    dataset_dir: str | os.PathLike | None = None,
    split: str = "test",
    check: bool = True,
) -> list[dict]:
    """The images to segment: ``input`` (an image or a folder) if given, else the ``split`` of ``datalist``.

    Every image is opened and decoded first (``check``). Inputs may share a file name: outputs are named through
    :class:`~meddisseg_monai.data.OutputNames`, which makes the names unique. :class:`InferenceInputs` skips
    unreadable images instead of refusing the list.

    Returns:
        ``[{"image": abs_path}, ...]``.

    Raises:
        ValueError: neither ``input`` nor ``datalist`` given.
        DatalistError: unreadable images (all listed).
    """
    items, what = _inference_items(input, datalist, dataset_dir, split)
    if check:
        check_items(items, require_label=False, what=what)
    return items


class InferenceInputs:
    """The images of an inference run, each opened and decoded first; an unreadable one is skipped with a warning
    that names it, and the others are processed. :meth:`finish` (the last step of the run) then raises, so the run
    exits non-zero when any input was skipped.

    Args:
        input, datalist, dataset_dir, split: as for :func:`inference_datalist`.
        check: decode every image first (``False``: take the list as it is).

    Attributes:
        items: ``[{"image": abs_path}, ...]``, the readable inputs.
        skipped: ``[(path, reason), ...]``.

    Raises:
        DatalistError: no input is readable (every one named).
    """

    def __init__(
        self,
        input: str | os.PathLike | None = None,
        datalist: str | os.PathLike | None = None,
        dataset_dir: str | os.PathLike | None = None,
        split: str = "test",
        check: bool = True,
    ) -> None:
        items, self.what = _inference_items(input, datalist, dataset_dir, split)
        self.items: list[dict] = []
        self.skipped: list[tuple[str, str]] = []
        for item in items:
            try:
                if check:
                    check_items([item], require_label=False, what=str(item["image"]), num_threads=1)
            except DatalistError as error:
                reason = str(error).split("\n", 1)[-1].strip()
                logger.warning("skipping inference input %s: %s", item["image"], reason)
                self.skipped.append((str(item["image"]), reason))
            else:
                self.items.append(item)
        if not self.items:
            listed = "; ".join(reason for _, reason in self.skipped[:5])
            raise DatalistError(f"{self.what}: none of the {len(items)} input(s) can be read: {listed}")
        if self.skipped:
            logger.warning(
                "%s: %d of %d input(s) skipped, %d to segment.",
                self.what,
                len(self.skipped),
                len(items),
                len(self.items),
            )

    def finish(self) -> None:
        """Raise :class:`DatalistError` when inputs were skipped (after the others were written)."""
        if self.skipped:
            raise DatalistError(f"{self.what}: {describe_skipped(self.skipped, len(self.items))}")


def write_datalist(path: str | os.PathLike, splits: Mapping[str, Sequence[Mapping[str, str]]], **info: object) -> str:
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
