"""Handlers whose progress can be saved in the "last" checkpoint, so a killed run resumes where it stopped.

MONAI's ``CheckpointSaver`` (best model by a metric) and ``EarlyStopHandler`` keep their progress (the best score
so far, the epochs without improvement) in memory only; after a restart the first validation would overwrite the
best model and the patience would start again. These subclasses expose that progress through ``state_dict`` /
``load_state_dict``, so they can sit in the ``to_save`` / ``load_dict`` of Ignite's ``Checkpoint`` and MONAI's
``CheckpointLoader`` next to the network, optimizer, scheduler and trainer.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from ignite.engine import Engine
from monai.handlers import CheckpointSaver, EarlyStopHandler

from ..utils.training_record import write_training_record
from .finite import NonFiniteError, non_finite_tensors

__all__ = ["ResumableCheckpointSaver", "ResumableEarlyStopHandler"]

logger = logging.getLogger(__name__)


class ResumableCheckpointSaver(CheckpointSaver):
    """``CheckpointSaver`` with ``state_dict()``: the key-metric tracking list (which score the saved best model has).

    It never saves a best model from a non-finite key metric (the validation is skipped with a warning) nor with
    non-finite weights (:class:`~meddisseg_monai.handlers.finite.NonFiniteError`). With ``record``, every best
    model ``<name>.pt`` gets ``<name>.json`` beside it: ``record`` (e.g. the image size), the epoch and the score
    (:mod:`meddisseg_monai.utils.training_record`). ``load_state_dict`` is MONAI's own. Every other argument is
    ``CheckpointSaver``'s.
    """

    def __init__(self, *args: Any, record: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record = dict(record) if record else None
        self._best_filename = kwargs.get("key_metric_filename")
        self._key_metric_name = kwargs.get("key_metric_name")

    def metrics_completed(self, engine: Engine) -> None:
        """Save the best model, unless the key metric or the weights are not finite."""
        name = (
            self._key_metric_name
            if isinstance(self._key_metric_name, str)
            else getattr(engine.state, "key_metric_name", None)
        )
        score = engine.state.metrics.get(name) if name else None
        if score is not None and not math.isfinite(float(score)):
            logger.warning(
                "epoch %s: %s is %s, not a best model; %s is unchanged.",
                engine.state.epoch,
                name,
                score,
                "the best checkpoint",
            )
            return
        bad = non_finite_tensors({k: v.state_dict() for k, v in self.save_dict.items() if hasattr(v, "state_dict")})
        if bad:
            raise NonFiniteError(
                f"the best checkpoint is not written to {self.save_dir}: {len(bad)} tensor(s) hold NaN/Inf "
                f"(e.g. {', '.join(bad[:3])})."
            )
        before = self._saved_score()
        super().metrics_completed(engine)
        if self.record is not None and self._best_filename and self._saved_score() != before:
            write_training_record(
                os.path.join(self.save_dir, self._best_filename),
                {
                    **self.record,
                    "epoch": engine.state.epoch,
                    "key_metric": {name: None if score is None else float(score)},
                },
            )

    def _saved_score(self) -> Any:
        checkpoint = self._key_metric_checkpoint
        saved = getattr(checkpoint, "_saved", None) if checkpoint is not None else None
        return (saved[-1].priority, saved[-1].filename) if saved else None

    def state_dict(self) -> dict[str, Any]:
        """The key-metric tracking state (``{}`` when no key metric is saved)."""
        checkpoint = self._key_metric_checkpoint
        return dict(checkpoint.state_dict()) if checkpoint is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the tracking state (nothing to do for an empty one)."""
        if state_dict:
            super().load_state_dict(state_dict)


class ResumableEarlyStopHandler(EarlyStopHandler):
    """``EarlyStopHandler`` with ``state_dict`` / ``load_state_dict`` (the patience counter and best score).

    The state lives in Ignite's ``EarlyStopping``, which exists once a trainer is set (``set_trainer`` or the
    ``trainer`` argument); a state loaded before that is kept and applied then.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending_state: Mapping | None = None
        super().__init__(*args, **kwargs)

    def set_trainer(self, trainer: Any) -> None:
        super().set_trainer(trainer)
        if self._pending_state is not None:
            self._handler.load_state_dict(self._pending_state)
            self._pending_state = None

    def state_dict(self) -> dict[str, Any]:
        """``{"counter", "best_score"}`` of the underlying ``EarlyStopping`` (``{}`` before a trainer is set)."""
        return dict(self._handler.state_dict()) if self._handler is not None else {}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore the counter and best score."""
        if not state_dict:
            return
        if self._handler is None:
            self._pending_state = dict(state_dict)
        else:
            self._handler.load_state_dict(state_dict)
