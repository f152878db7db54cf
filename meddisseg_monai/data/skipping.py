"""Inference over many inputs that goes on past one that cannot be read.

A folder of CT volumes is read once, by the inference run's own transforms (no pre-pass that loads every volume
twice). :class:`SkippingDataset` turns an item whose loading or preprocessing fails into a small record naming the
file and the cause; :class:`SkipFailedInputs` wraps the data loader, drops those records with a warning and counts
them, and its :meth:`~SkipFailedInputs.finish` (the run's last step) raises, so the run exits non-zero after the
other inputs were written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from monai.data import Dataset

from ..utils.command_line import describe_root_cause
from .validation import DatalistError

logger = logging.getLogger(__name__)

SKIPPED_PATH_KEY = "skipped_input_path"
SKIPPED_REASON_KEY = "skipped_input_reason"


class SkippingDataset(Dataset):
    """A MONAI :class:`~monai.data.Dataset` whose item that fails to load or transform becomes
    ``{SKIPPED_PATH_KEY: path, SKIPPED_REASON_KEY: "<Type>: <root cause>"}`` instead of raising.

    Args:
        data: the items, e.g. ``[{"image": path}, ...]``.
        transform: applied to each item, as in :class:`~monai.data.Dataset`.
        path_key: the item key that names the input in the record.
    """

    def __init__(self, data: Sequence, transform: Any = None, path_key: str = "image") -> None:
        super().__init__(data=data, transform=transform)
        self.path_key = path_key

    def _transform(self, index: int) -> Any:
        try:
            return super()._transform(index)
        except Exception as error:  # noqa: BLE001 - every failure of one input is reported, the others go on
            item = self.data[index]
            path = item.get(self.path_key, item) if isinstance(item, Mapping) else item
            return {SKIPPED_PATH_KEY: str(path), SKIPPED_REASON_KEY: describe_root_cause(error)}


class SkipFailedInputs:
    """Iterate a data loader over a :class:`SkippingDataset`, leaving out (with a warning naming the file) each batch
    that is a failure record.

    It has no length on purpose: MONAI's workflows then take the epoch to end where the inputs end, instead of asking
    for as many batches as there were inputs. Use ``batch_size=1`` (a failure record cannot share a batch).

    Args:
        data_loader: the loader; its batches are dicts.
        what: how the inputs are named in messages.

    Attributes:
        skipped: ``[(path, reason), ...]``.
        processed: how many batches were passed on.
    """

    def __init__(self, data_loader: Iterable, what: str = "inference inputs") -> None:
        self.data_loader = data_loader
        self.what = what
        self.skipped: list[tuple[str, str]] = []
        self.processed = 0

    def __iter__(self) -> Iterator:
        self.skipped, self.processed = [], 0
        for batch in self.data_loader:
            if isinstance(batch, Mapping) and SKIPPED_PATH_KEY in batch:
                path, reason = _first(batch[SKIPPED_PATH_KEY]), _first(batch[SKIPPED_REASON_KEY])
                logger.warning("skipping inference input %s: %s", path, reason)
                self.skipped.append((path, reason))
                continue
            self.processed += 1
            yield batch

    def finish(self) -> None:
        """Raise :class:`~meddisseg_monai.data.DatalistError` when any input was skipped (the others are written)."""
        if self.skipped:
            raise DatalistError(f"{self.what}: {describe_skipped(self.skipped, self.processed)}")


def describe_skipped(skipped: Sequence[tuple[str, str]], processed: int) -> str:
    """The end-of-run message of an inference that skipped ``skipped`` (path, reason) inputs and wrote ``processed``
    (both bundles say it the same way)."""
    listed = "; ".join(f"{path} ({reason})" for path, reason in skipped[:10])
    total = len(skipped) + processed
    if not processed:
        return f"none of the {total} input(s) could be read: {listed}"
    return (
        f"{len(skipped)} of {total} input(s) could not be read and have no output (the others were written): {listed}"
    )


def _first(value: Any) -> str:
    """The one value of a collated batch of one (a list), or the value itself."""
    return str(value[0]) if isinstance(value, (list, tuple)) and value else str(value)
