"""Handlers whose progress can be saved in the "last" checkpoint, so a killed run resumes where it stopped.

MONAI's ``CheckpointSaver`` (best model by a metric) and ``EarlyStopHandler`` keep their progress (the best score
so far, the epochs without improvement) in memory only; after a restart the first validation would overwrite the
best model and the patience would start again. These subclasses expose that progress through ``state_dict`` /
``load_state_dict``, so they can sit in the ``to_save`` / ``load_dict`` of Ignite's ``Checkpoint`` and MONAI's
``CheckpointLoader`` next to the network, optimizer, scheduler and trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monai.handlers import CheckpointSaver, EarlyStopHandler

__all__ = ["ResumableCheckpointSaver", "ResumableEarlyStopHandler"]


class ResumableCheckpointSaver(CheckpointSaver):
    """``CheckpointSaver`` with ``state_dict()``: the key-metric tracking list (which score the saved best model has).

    ``load_state_dict`` is MONAI's own. Everything else, including the arguments, is ``CheckpointSaver``'s.
    """

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
