"""Log whether the Dispersive Loss acts: its gradient ratio and floor fraction, every N training iterations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.handlers.tensorboard_handlers import TensorBoardHandler
from monai.utils import CommonKeys as Keys

from ..losses.diagnostics import dispersive_diagnostics

__all__ = ["DispersiveDiagnosticsHandler"]


class DispersiveDiagnosticsHandler(TensorBoardHandler):
    """Every ``interval`` iterations, on the batch just trained on, compute the two figures of
    :func:`meddisseg_monai.losses.diagnostics.dispersive_diagnostics` and write them to TensorBoard:

    - ``<tag_prefix>gradient_ratio``: |grad of w * L_disp| / |grad of the mask loss| on the encoder's last level;
    - ``<tag_prefix>floor_fraction``: ``(L - log(1/B)) / (0 - log(1/B))`` of an InfoNCE form (0 = saturated);
    - ``<tag_prefix>value``: the dispersive loss itself.

    The same figures are kept in ``engine.state.dispersive_diagnostics``. Computing them costs one forward and two
    backward passes of the network; nothing of the training state changes (see the function).

    The loss is ``engine.loss_function`` (a :class:`~meddisseg_monai.losses.MedDisSegLoss` or
    :class:`~meddisseg_monai.losses.MedDisSegStage1Loss`: its ``segmentation``, ``dispersive`` and
    ``dispersive_weight``); the images and labels are ``engine.state.output["image"]`` / ``["label"]``.

    With several processes (DDP) the bundle disables it: the extra forward pass would run on one rank only.

    Args:
        interval: compute every ``interval`` iterations (and on the first).
        summary_writer: a TensorBoard ``SummaryWriter`` (else one is created in ``log_dir``).
        log_dir: where to create one.
        tag_prefix: prefix of the scalar tags.

    Bundle wiring::

        {"_target_": "meddisseg_monai.handlers.DispersiveDiagnosticsHandler", "interval": 50, "log_dir": "@output_dir"}
    """

    def __init__(
        self, interval: int = 50, summary_writer: Any = None, log_dir: str = "./runs", tag_prefix: str = "dispersive/"
    ) -> None:
        if interval < 1:
            raise ValueError(f"DispersiveDiagnosticsHandler: interval must be >= 1, got {interval}.")
        super().__init__(summary_writer=summary_writer, log_dir=log_dir)
        self.interval = interval
        self.tag_prefix = tag_prefix

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        iteration = engine.state.iteration
        if iteration != 1 and iteration % self.interval != 0:
            return
        output = engine.state.output
        items = output if isinstance(output, list) else [output]  # a list when decollated by postprocessing
        if not items or not all(isinstance(o, Mapping) and Keys.IMAGE in o and Keys.LABEL in o for o in items):
            raise ValueError("DispersiveDiagnosticsHandler needs engine.state.output with 'image' and 'label'.")
        if isinstance(output, list):
            images = torch.stack([torch.as_tensor(o[Keys.IMAGE]) for o in items])
            labels = torch.stack([torch.as_tensor(o[Keys.LABEL]) for o in items])
        else:
            images, labels = output[Keys.IMAGE], output[Keys.LABEL]
        if images.shape[0] < 2:  # a batch of one: nothing to compare
            return
        loss = engine.loss_function
        figures = dispersive_diagnostics(
            engine.network, images, labels, loss.segmentation, loss.dispersive, loss.dispersive_weight
        )
        engine.state.dispersive_diagnostics = figures
        self._writer.add_scalar(self.tag_prefix + "gradient_ratio", figures["gradient_ratio"], iteration)
        self._writer.add_scalar(self.tag_prefix + "value", figures["dispersive"], iteration)
        if figures["floor_fraction"] is not None:
            self._writer.add_scalar(self.tag_prefix + "floor_fraction", figures["floor_fraction"], iteration)
        self._writer.flush()
