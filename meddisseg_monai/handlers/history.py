"""A per-epoch training history (mean training loss terms, the validator's metrics, wall time) as one JSON file."""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict

from ignite.engine import Engine, Events

from .loss_terms import loss_terms

__all__ = ["EpochHistoryHandler", "read_history"]


def read_history(history_file: str | os.PathLike) -> list[dict]:
    """The epochs recorded in ``history_file`` by :class:`EpochHistoryHandler` (``[]`` when there is no file)."""
    if not os.path.isfile(history_file):
        return []
    with open(history_file) as f:
        return json.load(f)["epochs"]


class EpochHistoryHandler:
    """After every training epoch, append to ``history_file``: the epoch, the mean of each training loss term over
    the epoch (``train_loss``, ``train_<term>``; the terms :class:`LossTermsHandler` publishes), the validator's
    metrics when it ran for that epoch, the epoch's wall time (validation included) and the elapsed total.

    The file is rewritten atomically after each epoch, so an interrupted run loses at most the epoch in progress; a
    resumed run (trainer state restored before it starts) keeps the epochs up to the one it resumes from and goes on.
    It is the data of the learning-curve figures (:func:`meddisseg_monai.visualize.plot_learning_curves`).

    Bundle wiring, among ``train#handlers`` after the ``ValidationHandler`` (so the metrics of the epoch exist)::

        {"_target_": "meddisseg_monai.handlers.EpochHistoryHandler", "history_file": "...",
         "validator": "@validate#evaluator"}

    Args:
        history_file: the JSON file, ``{"epochs": [{...}, ...]}``.
        validator: the evaluator whose ``state.metrics`` are recorded (only for epochs it validated).
    """

    def __init__(self, history_file: str | os.PathLike, validator: Engine | None = None) -> None:
        self.history_file = os.fspath(history_file)
        self.validator = validator
        self.epochs: list[dict] = []
        self._sums: dict[str, float] = defaultdict(float)
        self._count = 0
        self._epoch_start = 0.0
        self._loaded = False

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _started(self, engine: Engine) -> None:
        self._loaded = False

    def _epoch_started(self, engine: Engine) -> None:
        if not self._loaded:  # here, not at STARTED: a checkpoint loader restores the trainer's state at STARTED
            self.epochs = [e for e in read_history(self.history_file) if e["epoch"] < engine.state.epoch]
            self._loaded = True
        self._sums.clear()
        self._count = 0
        self._epoch_start = time.perf_counter()

    def _iteration_completed(self, engine: Engine) -> None:
        terms = loss_terms(engine.state.output) if engine.state.output else {}
        for name, value in terms.items():
            self._sums[name] += value
        self._count += 1

    def _epoch_completed(self, engine: Engine) -> None:
        record: dict = {"epoch": engine.state.epoch, "iteration": engine.state.iteration}
        for name, total in sorted(self._sums.items()):
            key = "train_loss" if name == "loss" else f"train_{name}"
            record[key] = total / max(self._count, 1)
        validator = self.validator
        if validator is not None and validator.state.epoch == engine.state.epoch:
            for name, value in validator.state.metrics.items():
                value = float(value)
                record[name] = value if math.isfinite(value) else None
        record["epoch_seconds"] = round(time.perf_counter() - self._epoch_start, 2)
        previous = self.epochs[-1]["elapsed_seconds"] if self.epochs else 0.0
        record["elapsed_seconds"] = round(previous + record["epoch_seconds"], 2)
        self.epochs.append(record)
        folder = os.path.dirname(self.history_file)
        if folder:
            os.makedirs(folder, exist_ok=True)
        partial = f"{self.history_file}.partial"
        with open(partial, "w") as f:
            json.dump({"epochs": self.epochs}, f, indent=1)
        os.replace(partial, self.history_file)
