"""Stage I's trainer: MONAI's ``SupervisedTrainer`` with an iteration over two views of every batch.

Stage II needs nothing here: it runs on ``monai.engines.SupervisedTrainer`` itself (the network built with
``auxiliary_outputs=True``, :class:`~meddisseg_monai.losses.MedDisSegLoss` returning a scalar).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys

__all__ = ["TwoViewTrainer"]


class TwoViewTrainer(SupervisedTrainer):
    """``SupervisedTrainer`` for Med-DisSeg Stage I (consistency reinforcement): every batch goes through the network
    twice, clean and strongly augmented, and ``loss_function(outputs, outputs_augmented, label)`` is back-propagated
    (:class:`~meddisseg_monai.losses.MedDisSegStage1Loss`).

    The augmented view comes from the data pipeline under ``augmented_key`` (made by MONAI transforms in the loader's
    workers, spatially identical to the clean image). Everything else (constructor arguments, ``amp`` with its
    ``GradScaler``, gradient accumulation, events, post-processing of ``"pred"``, the clean view's outputs) is
    ``SupervisedTrainer``'s; only :meth:`_iteration` differs. The trainer's own ``compile=True`` is not supported (the
    bundles compile the network itself: ``--compile true``).

    Args:
        augmented_key: batch key of the strongly augmented image (keyword only).
        args, kwargs: ``SupervisedTrainer``'s.
    """

    def __init__(self, *args: Any, augmented_key: str = "image_augmented", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.augmented_key = augmented_key

    def _iteration(self, engine: SupervisedTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        if engine.compile:
            raise ValueError("TwoViewTrainer does not support compile=True; compile the network before passing it.")
        if not isinstance(batchdata, Mapping) or self.augmented_key not in batchdata:
            found = list(batchdata) if isinstance(batchdata, Mapping) else type(batchdata).__name__
            raise ValueError(
                f"TwoViewTrainer needs the augmented view under {self.augmented_key!r} in each batch, got {found}."
            )
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        inputs, targets = batch[0], batch[1]
        augmented = batchdata[self.augmented_key].to(engine.state.device, non_blocking=engine.non_blocking)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}

        def _compute_pred_loss() -> None:
            outputs = engine.inferer(inputs, engine.network)
            outputs_augmented = engine.inferer(augmented, engine.network)
            engine.state.output[Keys.PRED] = outputs
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            engine.state.output[Keys.LOSS] = engine.loss_function(outputs, outputs_augmented, targets).mean()
            engine.fire_event(IterationEvents.LOSS_COMPLETED)

        accumulation = engine.accumulation_steps
        local_iter = engine.state.iteration - 1
        if engine.state.epoch_length is not None:
            local_iter %= engine.state.epoch_length
        zero_grad = local_iter % accumulation == 0
        step = (local_iter + 1) % accumulation == 0 or (
            engine.state.epoch_length is not None and local_iter + 1 == engine.state.epoch_length
        )

        engine.network.train()
        if zero_grad:
            engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        use_scaler = engine.amp and engine.scaler is not None
        if use_scaler:
            with torch.autocast("cuda", **engine.amp_kwargs):
                _compute_pred_loss()
        else:
            _compute_pred_loss()
        loss = engine.state.output[Keys.LOSS]
        loss = loss / accumulation if accumulation > 1 else loss
        (engine.scaler.scale(loss) if use_scaler else loss).backward()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        if step:
            if use_scaler:
                engine.scaler.step(engine.optimizer)
                engine.scaler.update()
            else:
                engine.optimizer.step()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
