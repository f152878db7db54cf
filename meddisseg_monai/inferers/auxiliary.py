"""An inferer that also returns Med-DisSeg's auxiliary maps (e.g. the uncertainty map) in eval mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.inferers import Inferer

from ..utils.enums import DECOUPLED_MAP_NAMES

__all__ = ["AuxiliaryMapInferer"]


class AuxiliaryMapInferer(Inferer):
    """Run a :class:`~meddisseg_monai.networks.MedDisSeg` in eval mode and append auxiliary logit maps to its output.

    In eval mode the network returns only the segmentation logits; its semantic decoupling still runs, so a forward
    hook keeps the decoupled foreground / background / uncertainty features and the matching auxiliary head turns
    them into full-resolution logit maps (what train mode returns under ``"foreground"`` etc.). The result is one
    tensor ``(B, out_channels + len(maps), *spatial)``: the logits first, then the maps in the order asked.
    With ``maps=()`` it is ``network(inputs)``.

    Args:
        maps: any of ``"foreground"``, ``"background"``, ``"uncertainty"``.

    Raises:
        ValueError: an unknown map name.
        TypeError: a network without ``decoupling`` and ``auxiliary_heads`` (not a Stage II Med-DisSeg).
    """

    def __init__(self, maps: Sequence[str] = ("uncertainty",)) -> None:
        super().__init__()
        unknown = [m for m in maps if m not in DECOUPLED_MAP_NAMES]
        if unknown:
            raise ValueError(f"unknown auxiliary maps {unknown}; choose from {DECOUPLED_MAP_NAMES}.")
        self.maps = tuple(maps)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not self.maps:
            return network(inputs, *args, **kwargs)
        module = getattr(network, "module", network)  # DataParallel / DDP
        module = getattr(module, "_orig_mod", module)  # torch.compile wrapper
        if not (hasattr(module, "decoupling") and hasattr(module, "auxiliary_heads")):
            raise TypeError(f"{type(module).__name__} has no auxiliary heads: auxiliary maps need a MedDisSeg network.")
        captured: list[tuple[torch.Tensor, ...]] = []
        hook = module.decoupling.register_forward_hook(lambda _m, _i, output: captured.append(output))
        try:
            logits = network(inputs, *args, **kwargs)
        finally:
            hook.remove()
        decoupled = captured[-1]
        extra = [
            module.auxiliary_heads[DECOUPLED_MAP_NAMES.index(m)](decoupled[DECOUPLED_MAP_NAMES.index(m)])
            for m in self.maps
        ]
        return torch.cat([logits] + [e.to(logits.dtype) for e in extra], dim=1)
