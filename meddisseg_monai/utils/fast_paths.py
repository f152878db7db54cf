"""Speed options of the bundles: channels-last memory format and ``torch.compile``, applied to a network in place.

Mixed precision is the third option (``autocast`` in the configs): :class:`~meddisseg_monai.inferers.AutocastInferer`
for inference and the training steps' ``autocast`` argument for training.
"""

from __future__ import annotations

import torch
from torch import nn

from .config_values import as_bool

__all__ = ["accelerate_network", "network_spatial_dims"]


def network_spatial_dims(network: nn.Module) -> int:
    """The spatial dimensionality of a network: its ``spatial_dims`` attribute, else that of its first convolution."""
    module = getattr(network, "module", network)
    dims = getattr(module, "spatial_dims", None)
    if dims is not None:
        return int(dims)
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return layer.weight.ndim - 2
    raise ValueError(f"cannot tell the spatial dimensions of {type(module).__name__}: it has no convolution.")


def accelerate_network(
    network: nn.Module, channels_last: bool | str = False, compile: bool | str = False, compile_mode: str | None = None
) -> nn.Module:
    """Apply the bundles' speed options to ``network`` in place and return it.

    The module object stays the same (``nn.Module.compile`` compiles its forward in place), so checkpoints, optimiser
    parameter groups and state-dict keys are unchanged by either option.

    Args:
        network: a 2D or 3D network (already on its device).
        channels_last: store parameters in channels-last order (``channels_last`` for 2D, ``channels_last_3d`` for
            3D); convolutions then run in NHWC / NDHWC, usually faster on GPUs with tensor cores and with oneDNN.
        compile: compile the forward with ``torch.compile`` (the first calls are slow while it compiles; needs a C++
            compiler on CPUs).
        compile_mode: ``torch.compile``'s ``mode`` (e.g. ``"max-autotune"``); ``None`` for its default.

    Raises:
        ValueError: channels-last on a network that is neither 2D nor 3D.
    """
    if as_bool(channels_last):
        dims = network_spatial_dims(network)
        formats = {2: torch.channels_last, 3: torch.channels_last_3d}
        if dims not in formats:
            raise ValueError(f"channels_last needs a 2D or 3D network, got spatial_dims={dims}.")
        network.to(memory_format=formats[dims])
    if as_bool(compile):
        network.compile(mode=compile_mode)
    return network
