"""Output names that cannot collide: one name per input, unique even when inputs share a file name.

Outputs are named after their input (``<name>_seg.nii.gz``, ``masks/<name>.png``). Layouts such as
``s0001/ct.nii.gz``, ``s0002/ct.nii.gz`` (TotalSegmentator, most hospital exports) give every input the same file
name, so naming by the file stem alone would write every output over the previous one. :func:`unique_output_names`
keeps the stem when it is unique, and otherwise prefixes the parent folders, as few as make the names unique::

    /data/a/image.nii.gz, /data/b/image.nii.gz, /data/c/other.nii.gz -> a_image, b_image, other

:class:`OutputNames` is that table as a ``SaveImaged`` ``output_name_formatter``; evaluation reads predictions and
names cases through the same table, so a case is identified by its datalist entry, never by its file stem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from monai.utils import ImageMetaKey

__all__ = ["OutputNames", "input_stem", "unique_output_names"]

_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz")


def _key(path: str | os.PathLike) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def _suffix(path: str) -> str:
    name = os.path.basename(path).lower()
    for suffix in _DOUBLE_SUFFIXES:
        if name.endswith(suffix):
            return os.path.basename(path)[-len(suffix) :]
    return os.path.splitext(os.path.basename(path))[1]


def input_stem(path: str | os.PathLike) -> str:
    """The file name of ``path`` without its extension (``.nii.gz`` counted as one); a folder's own name."""
    path = os.path.normpath(os.fspath(path))
    name = os.path.basename(path)
    suffix = _suffix(path)
    return name[: -len(suffix)] if suffix and not os.path.isdir(path) else name


def unique_output_names(paths: Iterable[str | os.PathLike], separator: str = "_") -> dict[str, str]:
    """``{normalised absolute path: output name}`` for ``paths``: the stem where it is unique, else the stem
    prefixed by as many parent folders as make the clashing names distinct (``a_image``, ``b_image``). A path
    listed twice is one input and gets one name; names that stay equal get ``_2``, ``_3`` ..."""
    keys = list(dict.fromkeys(_key(p) for p in paths))
    names = {k: input_stem(k) for k in keys}
    depth = {k: 0 for k in keys}
    for _ in range(64):
        groups: dict[str, list[str]] = {}
        for k in keys:
            groups.setdefault(names[k], []).append(k)
        clashes = [group for group in groups.values() if len(group) > 1]
        if not clashes:
            return names
        grown = False
        for group in clashes:
            for k in group:
                parents = os.path.dirname(k).split(os.sep)
                if depth[k] < len([p for p in parents if p]):
                    depth[k] += 1
                    grown = True
                prefix = [p for p in parents if p][-depth[k] :] if depth[k] else []
                names[k] = separator.join([*prefix, input_stem(k)])
        if not grown:
            break
    seen: dict[str, int] = {}
    for k in keys:  # identical names left (e.g. differing only in extension): number them
        count = seen.get(names[k], 0) + 1
        seen[names[k]] = count
        if count > 1:
            names[k] = f"{names[k]}{separator}{count}"
    return names


class OutputNames:
    """The output name of every input, as a ``SaveImaged`` ``output_name_formatter``.

    The table comes from ``paths``, or, when none are given, from the data of the engine it is attached to (an
    Ignite handler: the evaluator's ``data_loader.dataset.data`` when it starts), so that a config can build it
    without resolving its inputs (MONAI Label instantiates the post-processing of ``inference.json`` but never its
    dataset). The first list given wins: names never change during a run. An input that is not in the table is
    named by its stem.

    Args:
        paths: every input of the run (file paths, DICOM series folders, or ``{"image": path}`` items).

    Bundle wiring::

        "output_names": {"_target_": "meddisseg_monai.data.OutputNames"},
        "handlers": [..., "@output_names"],
        ... {"_target_": "SaveImaged", ..., "output_name_formatter": "@output_names"}
    """

    def __init__(self, paths: Iterable[str | os.PathLike | Mapping] | None = None) -> None:
        self.names: dict[str, str] = {}
        if paths is not None:
            self.update(paths)

    def update(self, paths: Iterable[str | os.PathLike | Mapping]) -> None:
        """Name ``paths`` unless a table exists already."""
        if self.names:
            return
        self.names = unique_output_names(p["image"] if isinstance(p, Mapping) else p for p in paths)

    def attach(self, engine: Any) -> None:
        """Take the table from ``engine.data_loader.dataset.data`` when the engine starts (unless given)."""
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self._from_engine)

    def _from_engine(self, engine: Any) -> None:
        data = getattr(getattr(getattr(engine, "data_loader", None), "dataset", None), "data", None)
        if data is not None:
            self.update(item for item in data if isinstance(item, (str, os.PathLike, Mapping)))

    def name(self, path: str | os.PathLike) -> str:
        """The output name of ``path``."""
        return self.names.get(_key(path), input_stem(path))

    def __call__(self, metadict: Mapping | None, saver: Any = None) -> dict:
        """``FolderLayout.filename`` arguments for an item with ``metadict`` (``SaveImage``'s formatter protocol)."""
        metadict = metadict or {}
        source = metadict.get(ImageMetaKey.FILENAME_OR_OBJ)
        patch_index = metadict.get(ImageMetaKey.PATCH_INDEX)
        if not source:
            return {"subject": f"{getattr(saver, '_data_index', 0)}", "idx": patch_index}
        # FolderLayout strips one extension (two for .gz): give it one so dots in the name survive
        return {"subject": self.name(str(source)) + ".out", "idx": patch_index}
