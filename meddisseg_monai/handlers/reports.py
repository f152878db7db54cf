"""Evaluation reports: one table of per-image metrics (CSV and JSON) and a summary (JSON and CSV)."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from ignite import distributed as idist
from monai.handlers import MetricsSaver
from monai.utils import ImageMetaKey, string_list_all_gather

from ..metrics import OVERLAP_METRIC_NAMES

__all__ = ["SegmentationReportWriter", "item_meta", "metric_columns", "summarise"]

PER_IMAGE = "metrics_per_image"
SUMMARY = "metrics_summary"


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


def metric_columns(name: str, details: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """Per-image columns of one metric's details.

    ``(N, C)`` details (MONAI metrics) give the column ``name`` (``name_c`` per channel when ``C > 1``); ``(N, C, 4)``
    details of :class:`~meddisseg_monai.metrics.PerImageOverlapMetric` give ``iou``, ``dice``, ``recall`` and
    ``precision`` whatever the handler's name.
    """
    values = np.asarray(details.detach().cpu() if isinstance(details, torch.Tensor) else details, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim == 3 and values.shape[-1] == len(OVERLAP_METRIC_NAMES):
        columns = {}
        for k, metric in enumerate(OVERLAP_METRIC_NAMES):
            columns.update(metric_columns(metric, values[..., k]))
        return columns
    if values.ndim != 2:
        raise ValueError(f"metric {name!r}: expected (images, channels) details, got shape {values.shape}.")
    if values.shape[1] == 1:
        return {name: values[:, 0]}
    return {f"{name}_{c}": values[:, c] for c in range(values.shape[1])}


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
    """Write the per-image metrics of an evaluation as one table, and their summary, when the evaluator's epoch ends.

    Files in ``save_dir``: ``metrics_per_image.csv`` / ``.json`` (one row per image: its file and every column of
    :func:`metric_columns`), ``metrics_summary.json`` / ``.csv`` (per column: mean, std, median, min, max over finite
    values, counts) with the engine's aggregated metrics. JSON has ``null`` where a value is infinite or NaN.

    It collects the file names and gathers them across ranks as MONAI's ``MetricsSaver`` does (whose machinery it
    reuses); the metric handlers must keep their details (``save_details=True``, the default).

    Args:
        save_dir: output folder.
        metric_details: names of the metric handlers whose per-image details to write (``"*"`` for all).
        metrics: names of aggregated metrics to copy into the summary (``"*"`` for all).
        batch_transform: gives the meta data dict of every item of ``engine.state.batch`` (default: the ``image``
            key's, see :func:`item_meta`).
        save_rank: the rank that writes, in distributed evaluation.
    """

    def __init__(
        self,
        save_dir: str,
        metric_details: str | Sequence[str] = "*",
        metrics: str | Sequence[str] = "*",
        batch_transform: Callable | None = None,
        save_rank: int = 0,
    ) -> None:
        super().__init__(
            save_dir=save_dir,
            metrics=metrics,
            metric_details=metric_details,
            batch_transform=batch_transform or item_meta("image"),
            save_rank=save_rank,
        )

    def _write(self, images: list[str], details: dict[str, Any], metrics: dict[str, Any]) -> None:
        columns: dict[str, np.ndarray] = {}
        for name, value in details.items():
            columns.update(metric_columns(name, value))
        for column, values in columns.items():
            if len(values) != len(images):
                raise ValueError(f"{column}: {len(values)} values for {len(images)} images.")
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
        summary = {
            "num_images": len(images),
            "per_image": {n: summarise(columns[n]) for n in names},
            "aggregated": {k: _json_number(float(v)) for k, v in metrics.items() if np.ndim(v) == 0},
        }
        with open(os.path.join(self.save_dir, f"{SUMMARY}.json"), "w") as f:
            json.dump(summary, f, indent=1)
        stat_names = ["mean", "std", "median", "min", "max", "count", "not_finite"]
        with open(os.path.join(self.save_dir, f"{SUMMARY}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["metric"] + stat_names)
            for n in names:
                stats = summary["per_image"][n]
                writer.writerow([n] + ["" if stats[s] is None else f"{stats[s]:.6g}" for s in stat_names])

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
