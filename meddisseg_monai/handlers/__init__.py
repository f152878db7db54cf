"""Ignite handlers of the bundle: resumable best-checkpoint and early-stopping state, evaluation reports, a
record of the images each rank trained on."""

from __future__ import annotations

from .reports import SegmentationReportWriter, item_meta, metric_columns, summarise
from .samples import SampleRecorder
from .resume import ResumableCheckpointSaver, ResumableEarlyStopHandler

__all__ = [
    "ResumableCheckpointSaver",
    "ResumableEarlyStopHandler",
    "SampleRecorder",
    "SegmentationReportWriter",
    "item_meta",
    "metric_columns",
    "summarise",
]
