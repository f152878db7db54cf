"""A record of which images each process trained on: to check data sharding in distributed training."""

from __future__ import annotations

import json
import os

from ignite import distributed as idist
from ignite.engine import Engine, Events
from monai.utils import ImageMetaKey

from .reports import item_meta

__all__ = ["SampleRecorder"]


class SampleRecorder:
    """Append the file names of every training batch to ``<save_dir>/samples_rank<rank>.jsonl``, one line per epoch
    (``{"epoch": e, "rank": r, "images": [...]}``), written by every rank.

    Args:
        save_dir: output folder.
        key: the batch key whose meta data names the source file.
    """

    def __init__(self, save_dir: str, key: str = "image") -> None:
        self.save_dir = save_dir
        self._metas = item_meta(key)
        self._names: list[str] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, _engine: Engine) -> None:
        self._names = []

    def _collect(self, engine: Engine) -> None:
        self._names += [str(meta.get(ImageMetaKey.FILENAME_OR_OBJ)) for meta in self._metas(engine.state.batch)]

    def _write(self, engine: Engine) -> None:
        os.makedirs(self.save_dir, exist_ok=True)
        rank = idist.get_rank()
        record = {"epoch": engine.state.epoch, "rank": rank, "images": self._names}
        with open(os.path.join(self.save_dir, f"samples_rank{rank}.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
