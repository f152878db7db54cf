"""Ignite handlers of the bundle: resumable best-checkpoint and early-stopping state, evaluation reports."""

from __future__ import annotations

from .reports import SegmentationReportWriter, item_meta, metric_columns, summarise
from .resume import ResumableCheckpointSaver, ResumableEarlyStopHandler

__all__ = [
    "ResumableCheckpointSaver",
    "ResumableEarlyStopHandler",
    "SegmentationReportWriter",
    "item_meta",
    "metric_columns",
    "summarise",
]
