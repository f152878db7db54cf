"""Evaluation reports of both bundles: one table of per-image metrics (CSV and JSON), a summary (JSON and CSV) that
states each metric's empty-mask convention, and a provenance record beside them."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from ignite import distributed as idist
from monai.handlers import MetricsSaver
from monai.utils import ImageMetaKey, string_list_all_gather

from ..metrics import OVERLAP_METRIC_NAMES
from ..utils.provenance import provenance as provenance_record
from ..utils.provenance import write_provenance

__all__ = ["EMPTY_MASK_CONVENTIONS", "SegmentationReportWriter", "item_meta", "metric_columns", "summarise"]

PER_IMAGE = "metrics_per_image"
SUMMARY = "metrics_summary"

_OVERLAP = (
    "a class empty in both the truth and the prediction scores 1, empty in only one of them ~0 (the paper's eps "
    "convention, e.g. Dice = (2 TP + eps) / (|P| + |G| + eps) with eps 1e-15; MONAI's DiceMetric with "
    "ignore_empty=False gives the same)"
)
_HD95 = (
    "undefined (not finite: null in JSON, left out of means, counted in not_finite) when the truth or the prediction "
    "is empty; in the source grid's units (mm for NIfTI / DICOM, pixels for PNG / JPEG)"
)
_CLASS_MEAN = "<metric> is the mean of <metric>_<class> over the classes with a finite value (NaN when none has one)"
#: the one empty-mask convention of every metric a report may hold (the summary JSON repeats those it holds)
EMPTY_MASK_CONVENTIONS = {
    **{name: f"{name} on the network's grid: {_OVERLAP}" for name in OVERLAP_METRIC_NAMES},
    "val_mean_dice": f"mean of dice on the network's grid: {_OVERLAP}",
    "val_mean_iou": f"mean of iou on the network's grid: {_OVERLAP}",
    "dice_source_size": f"Dice on the source grid: {_OVERLAP}",
    "hd95_source_size": f"95th-percentile Hausdorff distance on the source grid: {_HD95}",
}


def item_meta(key: str = "image") -> Callable[[Any], list[dict]]:
    """A ``batch_transform`` giving the meta data dict of ``key`` for every item of a (decollated) batch."""

    def transform(batch: Any) -> list[dict]:
        items = batch if isinstance(batch, (list, tuple)) else [batch]
        metas = []
        for item in items:
            meta = getattr(item[key], "meta", None)
            if meta is None:
                meta = item.get(f"{key}_meta_dict", {})
            names = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
            if isinstance(names, (list, tuple)):  # a collated batch that was not decollated
                metas += [{ImageMetaKey.FILENAME_OR_OBJ: n} for n in names]
            else:
                metas.append(meta)
        return metas

    return transform


def metric_columns(
    name: str, details: torch.Tensor | np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Per-image columns of one metric's details, named the same way in both bundles.

    ``(N, 1)`` details (MONAI metrics) give the column ``name``; ``(N, C)`` details with ``C > 1`` give ``name`` (the
    mean over the classes with a finite value, NaN where none has one) and ``name_<class>`` per class (``class_names``,
    default ``0 .. C-1``). ``(N, C, 4)`` details of :class:`~meddisseg_monai.metrics.PerImageOverlapMetric` give
    ``iou``, ``dice``, ``recall`` and ``precision`` (each as above) whatever the handler's name.

    Raises:
        ValueError: details of another shape, or ``class_names`` of another length than ``C``.
    """
    values = np.asarray(details.detach().cpu() if isinstance(details, torch.Tensor) else details, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim == 3 and values.shape[-1] == len(OVERLAP_METRIC_NAMES):
        columns = {}
        for k, metric in enumerate(OVERLAP_METRIC_NAMES):
            columns.update(metric_columns(metric, values[..., k], class_names))
        return columns
    if values.ndim != 2:
        raise ValueError(f"metric {name!r}: expected (images, channels) details, got shape {values.shape}.")
    if values.shape[1] == 1:
        return {name: values[:, 0]}
    names = [str(c) for c in range(values.shape[1])] if class_names is None else [str(c) for c in class_names]
    if len(names) != values.shape[1]:
        raise ValueError(f"metric {name!r}: {values.shape[1]} classes but {len(names)} class names ({names}).")
    finite = np.where(np.isfinite(values), values, 0.0)
    counts = np.isfinite(values).sum(axis=1)
    mean = np.divide(finite.sum(axis=1), counts, out=np.full(len(values), np.nan), where=counts > 0)
    return {name: mean, **{f"{name}_{c}": values[:, i] for i, c in enumerate(names)}}


def summarise(values: np.ndarray) -> dict[str, float | int | None]:
    """Mean, standard deviation, median, min and max over the finite values, with their count and the count of
    infinite / NaN ones (HD95 of an empty prediction or mask is not finite)."""
    finite = values[np.isfinite(values)]
    stats: dict[str, float | int | None] = {"count": int(finite.size), "not_finite": int(values.size - finite.size)}
    for stat, fn in (("mean", np.mean), ("std", np.std), ("median", np.median), ("min", np.min), ("max", np.max)):
        stats[stat] = float(fn(finite)) if finite.size else None
    return stats


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class SegmentationReportWriter(MetricsSaver):
    """Write the per-image metrics of an evaluation as one table, their summary and the run's provenance, when the
    evaluator's epoch ends. Both bundles write their reports with it, so the files have the same columns.

    Files in ``save_dir``: ``metrics_per_image.csv`` / ``.json`` (one row per image: its file and every column of
    :func:`metric_columns`), ``metrics_summary.json`` / ``.csv`` (per column: mean, std, median, min, max over finite
    values, counts) with the engine's aggregated metrics, the empty-mask convention of every metric it holds
    (``conventions``) and the inputs that were skipped; ``provenance.json``
    (:func:`~meddisseg_monai.utils.provenance.provenance`). JSON has ``null`` where a value is infinite or NaN.

    It collects the file names and gathers them across ranks as MONAI's ``MetricsSaver`` does (whose machinery it
    reuses); the metric handlers must keep their details (``save_details=True``, the default).

    Args:
        save_dir: output folder.
        metric_details: names of the metric handlers whose per-image details to write (``"*"`` for all).
        metrics: names of aggregated metrics to copy into the summary (``"*"`` for all).
        batch_transform: gives the meta data dict of every item of ``engine.state.batch`` (default: the ``image``
            key's, see :func:`item_meta`).
        save_rank: the rank that writes, in distributed evaluation.
        class_names: names of the classes of multi-class details (columns ``<metric>_<class>``).
        conventions: the empty-mask convention of each metric (default :data:`EMPTY_MASK_CONVENTIONS`).
        provenance: keyword arguments of :func:`~meddisseg_monai.utils.provenance.provenance` (``bundle_root``,
            ``checkpoint``, ``datalist``, ``device``, ``autocast``); ``None`` writes no provenance file.
        skipped: what left inputs out (a :class:`~meddisseg_monai.data.SkipFailedInputs`: its ``skipped`` pairs of
            path and reason are listed in the summary).

    Raises:
        ValueError: (at the end of the epoch) a metric whose convention ``conventions`` does not state.
    """

    def __init__(
        self,
        save_dir: str,
        metric_details: str | Sequence[str] = "*",
        metrics: str | Sequence[str] = "*",
        batch_transform: Callable | None = None,
        save_rank: int = 0,
        class_names: Sequence[str] | None = None,
        conventions: Mapping[str, str] | None = None,
        provenance: Mapping[str, Any] | None = None,
        skipped: Any = None,
    ) -> None:
        super().__init__(
            save_dir=save_dir,
            metrics=metrics,
            metric_details=metric_details,
            batch_transform=batch_transform or item_meta("image"),
            save_rank=save_rank,
        )
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.conventions = dict(EMPTY_MASK_CONVENTIONS if conventions is None else conventions)
        self.provenance = None if provenance is None else dict(provenance)
        self.skipped = skipped

    def _stated(self, names: Sequence[str]) -> dict[str, str]:
        missing = [n for n in names if n not in self.conventions]
        if missing:
            raise ValueError(f"{self.save_dir}: no empty-mask convention stated for metric(s) {missing}.")
        return {n: self.conventions[n] for n in names}

    def _write(self, images: list[str], details: dict[str, Any], metrics: dict[str, Any]) -> None:
        columns: dict[str, np.ndarray] = {}
        bases: list[str] = []
        for name, value in details.items():
            metric = metric_columns(name, value, self.class_names)
            bases += [c for c in metric if c in OVERLAP_METRIC_NAMES or c == name]
            columns.update(metric)
        for column, values in columns.items():
            if len(values) != len(images):
                raise ValueError(f"{column}: {len(values)} values for {len(images)} images.")
        aggregated = {k: _json_number(float(v)) for k, v in metrics.items() if np.ndim(v) == 0}
        conventions = self._stated(list(dict.fromkeys(bases + list(aggregated))))
        os.makedirs(self.save_dir, exist_ok=True)
        names = list(columns)
        with open(os.path.join(self.save_dir, f"{PER_IMAGE}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image"] + names)
            for i, image in enumerate(images):
                writer.writerow([image] + [f"{columns[n][i]:.6g}" for n in names])
        rows = [{"image": image, **{n: _json_number(columns[n][i]) for n in names}} for i, image in enumerate(images)]
        with open(os.path.join(self.save_dir, f"{PER_IMAGE}.json"), "w") as f:
            json.dump(rows, f, indent=1)
        skipped = [{"image": path, "error": reason} for path, reason in getattr(self.skipped, "skipped", [])]
        summary = {
            "num_images": len(images),
            "num_skipped": len(skipped),
            "per_image": {n: summarise(columns[n]) for n in names},
            "aggregated": aggregated,
            "conventions": conventions,
            "skipped": skipped,
        }
        if self.class_names is not None:
            summary["classes"] = self.class_names
            summary["class_mean"] = _CLASS_MEAN
        with open(os.path.join(self.save_dir, f"{SUMMARY}.json"), "w") as f:
            json.dump(summary, f, indent=1)
        stat_names = ["mean", "std", "median", "min", "max", "count", "not_finite"]
        with open(os.path.join(self.save_dir, f"{SUMMARY}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["metric"] + stat_names)
            for n in names:
                stats = summary["per_image"][n]
                writer.writerow([n] + ["" if stats[s] is None else f"{stats[s]:.6g}" for s in stat_names])
        if self.provenance is not None:
            write_provenance(self.save_dir, provenance_record(**self.provenance))

    def __call__(self, engine: Any) -> None:
        world = idist.get_world_size()
        images = string_list_all_gather(strings=self._filenames) if world > 1 else self._filenames
        if idist.get_rank() != self.save_rank:
            return
        details = getattr(engine.state, "metric_details", {})
        self._write(
            images,
            {k: v for k, v in details.items() if _selected(k, self.metric_details)},
            {k: v for k, v in engine.state.metrics.items() if _selected(k, self.metrics)},
        )


def _selected(name: str, selection: Sequence[str] | None) -> bool:
    return selection is not None and ("*" in selection or name in selection)
