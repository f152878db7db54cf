"""Training iterations of Med-DisSeg for MONAI's Ignite ``SupervisedTrainer`` (its ``iteration_update`` argument).

The networks return a dict in train mode and the composite losses return a dict of terms, so the default
``SupervisedTrainer`` iteration does not fit them. These callables do the same work (``prepare_batch``, the
``IterationEvents``, optimiser step, optional mixed precision) and put into ``engine.state.output``:

- ``"image"``, ``"label"``: the batch on the device;
- ``"pred"``: the main logits (what post-transforms and train metrics read);
- ``"loss"``: the total loss (detached after the backward pass);
- ``"loss_<term>"``: every term of the composite loss as a 0-d tensor (these survive MONAI's decollation), gathered
  for ``StatsHandler`` / ``TensorBoardStatsHandler`` by ``output_transform: "$meddisseg_monai.engines.loss_terms"``.

Bundle wiring::

    "trainer": {"_target_": "SupervisedTrainer", ...,
                "iteration_update": {"_target_": "meddisseg_monai.engines.MultiOutputTrainingStep"}}
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys

from ..utils.precision import AUTOCAST_DTYPES, autocast_context, autocast_name, resolve_autocast

__all__ = ["MultiOutputTrainingStep", "TwoViewTrainingStep", "autocast_context", "loss_terms", "AUTOCAST_DTYPES"]

LOSS_TERM_PREFIX = "loss_"


def loss_terms(output: Mapping | list) -> dict[str, float]:
    """``output_transform`` for Stats/TensorBoard handlers: ``{"loss": total, "<term>": value, ...}`` from an engine
    output written by these training steps (decollated or not)."""
    if isinstance(output, list):
        if not output:
            return {}
        output = output[0]
    terms = {k[len(LOSS_TERM_PREFIX) :]: float(v) for k, v in output.items() if k.startswith(LOSS_TERM_PREFIX)}
    if Keys.LOSS in output:
        terms[Keys.LOSS] = float(output[Keys.LOSS])
    return terms

class _TrainingStep:
    """Shared mechanics: batch preparation, optional autocast, backward and optimiser step."""

    def __init__(self, autocast: str | None = None) -> None:
        self.autocast = autocast_name(autocast)
        self._fp16_scaler: torch.amp.GradScaler | None = None

    @staticmethod
    def _prepare(engine: Any, batchdata: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        if getattr(engine, "accumulation_steps", 1) > 1:
            raise ValueError("Med-DisSeg training steps do not support gradient accumulation (accumulation_steps > 1).")
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        return batch[0], batch[1]

    def _forward_context(self, engine: Any) -> contextlib.AbstractContextManager:
        if self.autocast is None and engine.amp:
            # MONAI's own `amp=True`: float16 autocast on CUDA with its GradScaler
            return torch.autocast("cuda", **engine.amp_kwargs)
        return autocast_context(engine.state.device, self.autocast)

    def _grad_scaler(self, engine: Any) -> torch.amp.GradScaler | None:
        """MONAI's scaler with ``amp=True``; our own for fp16 autocast (bf16 and fp32 need none)."""
        if self.autocast is None:
            return engine.scaler if engine.amp else None
        resolved = resolve_autocast(self.autocast, engine.state.device)
        if resolved is None or AUTOCAST_DTYPES[resolved] != torch.float16:
            return None
        if self._fp16_scaler is None:
            self._fp16_scaler = torch.amp.GradScaler(torch.device(engine.state.device).type)
        return self._fp16_scaler

    def _optimise(self, engine: Any, loss: torch.Tensor) -> None:
        scaler = self._grad_scaler(engine)
        if scaler is not None:
            scaler.scale(loss).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            scaler.step(engine.optimizer)
            scaler.update()
        else:
            loss.backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()

    @staticmethod
    def _finish(engine: Any, terms: Mapping[str, torch.Tensor]) -> dict:
        for name, value in terms.items():
            engine.state.output[Keys.LOSS if name == "loss" else LOSS_TERM_PREFIX + name] = value.detach()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


class MultiOutputTrainingStep(_TrainingStep):
    """One Stage II iteration: ``outputs = network(image)`` (train mode, a dict), ``terms = loss_function(outputs,
    label)`` (a dict with ``"loss"``), backward, step.

    Args:
        autocast: ``"auto"`` (bf16 where the trainer's device computes it natively, else fp32), ``"bf16"`` /
            ``"fp16"`` mixed precision on the trainer's device, or None for full precision (or MONAI's ``amp=True``
            on CUDA).
    """

    def __call__(self, engine: Any, batchdata: Any) -> dict:
        inputs, targets = self._prepare(engine, batchdata)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        with self._forward_context(engine):
            outputs = engine.inferer(inputs, engine.network)
            engine.state.output[Keys.PRED] = outputs["pred"]
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            terms = engine.loss_function(outputs, targets)
            engine.fire_event(IterationEvents.LOSS_COMPLETED)
        self._optimise(engine, terms["loss"])
        engine.state.output[Keys.PRED] = outputs["pred"].detach()
        return self._finish(engine, terms)


class TwoViewTrainingStep(_TrainingStep):
    """One Stage I iteration over a clean and a strongly augmented view of the same batch: two forward passes,
    ``terms = loss_function(outputs, outputs_augmented, label)``, backward, step.

    The augmented view comes from the data pipeline under ``augmented_key`` (so it is made by MONAI transforms in the
    loader's workers), spatially identical to the clean image.

    Args:
        augmented_key: batch key of the strongly augmented image.
        autocast: as for :class:`MultiOutputTrainingStep`.
    """

    def __init__(self, augmented_key: str = "image_augmented", autocast: str | None = None) -> None:
        super().__init__(autocast)
        self.augmented_key = augmented_key

    def __call__(self, engine: Any, batchdata: Any) -> dict:
        inputs, targets = self._prepare(engine, batchdata)
        if not isinstance(batchdata, Mapping) or self.augmented_key not in batchdata:
            found = list(batchdata) if isinstance(batchdata, Mapping) else type(batchdata).__name__
            raise ValueError(
                f"TwoViewTrainingStep needs the augmented view under {self.augmented_key!r} in each batch, got {found}."
            )
        augmented = batchdata[self.augmented_key].to(engine.state.device, non_blocking=engine.non_blocking)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        with self._forward_context(engine):
            outputs = engine.inferer(inputs, engine.network)
            outputs_augmented = engine.inferer(augmented, engine.network)
            engine.state.output[Keys.PRED] = outputs["pred"]
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            terms = engine.loss_function(outputs, outputs_augmented, targets)
            engine.fire_event(IterationEvents.LOSS_COMPLETED)
        self._optimise(engine, terms["loss"])
        engine.state.output[Keys.PRED] = outputs["pred"].detach()
        return self._finish(engine, terms)
