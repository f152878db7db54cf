"""Ignite handlers of the bundle: resumable best-checkpoint and early-stopping state, evaluation reports, a
record of the images each rank trained on, the loss terms of each training iteration, the full training objective
on the validation set, a per-epoch history, whether the Dispersive Loss acts, non-finite guards and a checkpoint
loader whose errors name the file."""

from __future__ import annotations

from .checkpoint_loader import CheckedCheckpointLoader, CheckpointError, check_state_dict, read_checkpoint
from .dispersive import DispersiveDiagnosticsHandler
from .finite import FiniteDiskSaver, FiniteOutputGuard, NonFiniteError, NonFiniteGuard, non_finite_tensors
from .history import EpochHistoryHandler, read_history
from .loss_terms import LossTermsHandler, loss_terms
from .reports import EMPTY_MASK_CONVENTIONS, SegmentationReportWriter, item_meta, metric_columns, summarise
from .resume import ResumableCheckpointSaver, ResumableEarlyStopHandler
from .samples import SampleRecorder
from .validation_objective import ValidationObjectiveHandler

__all__ = [
    "CheckedCheckpointLoader",
    "EpochHistoryHandler",
    "read_history",
    "CheckpointError",
    "FiniteDiskSaver",
    "FiniteOutputGuard",
    "NonFiniteError",
    "NonFiniteGuard",
    "check_state_dict",
    "non_finite_tensors",
    "read_checkpoint",
    "DispersiveDiagnosticsHandler",
    "LossTermsHandler",
    "ValidationObjectiveHandler",
    "loss_terms",
    "ResumableCheckpointSaver",
    "ResumableEarlyStopHandler",
    "SampleRecorder",
    "EMPTY_MASK_CONVENTIONS",
    "SegmentationReportWriter",
    "item_meta",
    "metric_columns",
    "summarise",
]
