"""An inferer that runs another inferer under mixed precision and returns full-precision outputs."""

from __future__ import annotations

from typing import Any

import torch
from monai.inferers import Inferer, SimpleInferer

from ..utils.precision import autocast_context, autocast_name, resolve_autocast

__all__ = ["AutocastInferer"]


class AutocastInferer(Inferer):
    """Run ``inferer`` inside ``torch.autocast`` on the inputs' device; floating outputs come back as float32, so
    post-transforms, metrics and writers see the same dtype as without autocast.

    Bundle wiring (``autocast`` is ``"auto"``, ``null`` for fp32, ``"bf16"``, or ``"fp16"`` on GPUs)::

        "inferer": {"_target_": "meddisseg_monai.inferers.AutocastInferer", "autocast": "@autocast",
                    "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [96, 96, 96]}}

    Args:
        inferer: the inferer to run (default: ``SimpleInferer``).
        autocast: ``"auto"`` (bf16 where native on the inputs' device, else fp32), ``"bf16"`` / ``"fp16"``, or
            ``None`` / ``"fp32"`` to run ``inferer`` as it is.

    Raises:
        ValueError: an unknown ``autocast``; fp16 on CPU inputs (at call time).
    """

    def __init__(self, inferer: Inferer | None = None, autocast: str | None = None) -> None:
        super().__init__()
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.autocast = autocast_name(autocast)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> Any:
        if resolve_autocast(self.autocast, inputs.device) is None:
            return self.inferer(inputs, network, *args, **kwargs)
        with autocast_context(inputs.device, self.autocast):
            outputs = self.inferer(inputs, network, *args, **kwargs)
        return _to_float32(outputs)


def _to_float32(outputs: Any) -> Any:
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.is_floating_point() else outputs
    if isinstance(outputs, dict):
        return {k: _to_float32(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_to_float32(v) for v in outputs)
    return outputs
