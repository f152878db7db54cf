"""The training objective, all terms, on the validation set: what the reference's learning-rate scheduler watches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from ignite import distributed as idist
from ignite.engine import Engine, Events
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys

from ..utils.enums import DECOUPLED_MAP_NAMES

__all__ = ["ValidationObjectiveHandler"]


def _unwrap(network: torch.nn.Module) -> torch.nn.Module:
    network = getattr(network, "module", network)  # DataParallel / DDP
    return getattr(network, "_orig_mod", network)  # torch.compile


class ValidationObjectiveHandler:
    """Evaluator handler: the mean over validation batches of ``loss_function(outputs, label)``, with ``outputs`` the
    train-mode output dict of a Med-DisSeg network computed in eval mode, stored as ``engine.state.metrics[name]``.

    In eval mode the network returns only its logits; forward hooks on its ``encoder`` (the features of the
    Dispersive Loss) and, for Stage II, its ``decoupling`` (whose maps go through the auxiliary heads inside the same
    eval-mode, no-grad forward) collect the rest. The reference computes its validation loss the same way (every term,
    network in eval mode) and steps ``ReduceLROnPlateau`` on it. Averaged over batches, and over all processes in
    distributed runs. Attach it before the handlers that read the metric (scheduler, checkpoints, Stats). A batch of
    one image is left out (the Dispersive Loss needs two samples: a last, smaller batch or a distributed shard); with
    no batch of two or more at all the metric is NaN.

    Any other network (a baseline such as MONAI's UNet, no ``encoder``) gets ``loss_function(logits, label)``.

    Args:
        loss_function: ``MedDisSegLoss`` for Stage II, ``MedDisSegStage1Loss.single_view`` for Stage I.
        name: the metric name.

    Raises:
        ValueError (during a run): an inferer that calls a Med-DisSeg network more than once per batch (e.g. sliding
            windows), where one set of outputs per batch cannot be collected.
    """

    def __init__(self, loss_function: Callable[[dict, torch.Tensor], torch.Tensor], name: str = "val_loss") -> None:
        self.loss_function = loss_function
        self.name = name
        self._hooks: list[Any] = []
        self._captured: dict[str, list] = {}
        self._total = 0.0
        self._batches = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._start)
        engine.add_event_handler(IterationEvents.FORWARD_COMPLETED, self._update)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._complete)
        engine.add_event_handler(Events.TERMINATE, self._remove_hooks)

    def _start(self, engine: Engine) -> None:
        self._remove_hooks(engine)
        self._total, self._batches = 0.0, 0
        module = _unwrap(engine.network)
        self._captured = {}
        if not hasattr(module, "encoder"):
            return
        self._captured["features"] = []
        self._hooks.append(module.encoder.register_forward_hook(self._capture_features))
        if hasattr(module, "decoupling") and hasattr(module, "auxiliary_heads"):
            self._captured["maps"] = []
            heads = module.auxiliary_heads
            self._hooks.append(
                module.decoupling.register_forward_hook(
                    lambda _m, _i, decoupled: self._captured["maps"].append([h(d) for h, d in zip(heads, decoupled)])
                )
            )

    def _capture_features(self, _module: Any, _inputs: Any, features: list[torch.Tensor]) -> None:
        self._captured["features"].append(features)

    def _update(self, engine: Engine) -> None:
        captured, self._captured = self._captured, {k: [] for k in self._captured}
        if any(len(v) != 1 for v in captured.values()):
            raise ValueError(
                "ValidationObjectiveHandler: the network ran {} times on one batch; it needs an inferer that calls the "
                "network once per batch (SimpleInferer), not sliding windows.".format(len(captured["features"]))
            )
        logits = engine.state.output[Keys.PRED].float()
        if logits.shape[0] < 2 and "features" in captured:
            return
        if "features" not in captured:
            outputs: dict | torch.Tensor = logits
        else:
            outputs = {Keys.PRED: logits, "features": [f.float() for f in captured["features"][0]]}
        if "maps" in captured:
            outputs.update({n: m.float() for n, m in zip(DECOUPLED_MAP_NAMES, captured["maps"][0])})
        with torch.no_grad():
            self._total += float(self.loss_function(outputs, engine.state.output[Keys.LABEL]))
        self._batches += 1

    def _complete(self, engine: Engine) -> None:
        self._remove_hooks(engine)
        total = idist.all_reduce(torch.tensor([self._total, float(self._batches)], device=idist.device()))
        engine.state.metrics[self.name] = float(total[0] / total[1]) if float(total[1]) > 0 else float("nan")

    def _remove_hooks(self, _engine: Engine) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
