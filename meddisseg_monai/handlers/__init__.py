"""Ignite handlers of the bundle: resumable best-checkpoint and early-stopping state, evaluation reports, a
record of the images each rank trained on, the loss terms of each training iteration, the full training objective
on the validation set."""

from __future__ import annotations

from .reports import SegmentationReportWriter, item_meta, metric_columns, summarise
from .loss_terms import LossTermsHandler, loss_terms
from .samples import SampleRecorder
from .validation_objective import ValidationObjectiveHandler
from .resume import ResumableCheckpointSaver, ResumableEarlyStopHandler

__all__ = [
    "LossTermsHandler",
    "ValidationObjectiveHandler",
    "loss_terms",
    "ResumableCheckpointSaver",
    "ResumableEarlyStopHandler",
    "SampleRecorder",
    "SegmentationReportWriter",
    "item_meta",
    "metric_columns",
    "summarise",
]
