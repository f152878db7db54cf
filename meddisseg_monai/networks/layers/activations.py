"""Activations used by Med-DisSeg, registered in MONAI's ``Act`` factory."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Act
from torch import nn

__all__ = ["TeLU", "telu", "register_activations"]

# tanh(exp(x)) == 1.0 exactly in float32/bfloat16/float16 once exp(x) > ~10, i.e. x > ~2.4. Clamping the argument of
# exp at 8 leaves the forward value unchanged and keeps the gradient finite: without it, exp(x) overflows to
# inf for x > 88 (float32) and autograd multiplies inf by tanh'(inf) = 0, which gives NaN.


def telu(x: torch.Tensor) -> torch.Tensor:
    """TeLU(x) = x * tanh(exp(x)), computed without overflow in the forward or backward pass.

    Without gradients (inference) the same operations run in place on one new tensor, instead of allocating a tensor
    of the input's size for each of them (a 3D network at 96^3 holds maps of 100+ MB)."""
    if not torch.is_grad_enabled() and not torch.jit.is_tracing() and not torch.jit.is_scripting():
        return torch.clamp(x, max=8.0).exp_().tanh_().mul_(x)
    return x * torch.tanh(torch.exp(torch.clamp(x, max=8.0)))


class TeLU(nn.Module):
    """TeLU activation, ``x * tanh(exp(x))`` (Fernandez & Mali, arXiv 2412.20269).

    Registered in MONAI's activation factory as ``"telu"``, so ``act="telu"`` works in every MONAI block:

    .. code-block:: python

        from monai.networks.layers.factories import Act
        import meddisseg_monai.networks  # registers "telu"

        act = Act["telu"]()

    Args:
        inplace: accepted for signature compatibility with other MONAI activations; TeLU is never computed in place.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return telu(x)


def register_activations() -> None:
    """Register ``"telu"`` in ``monai.networks.layers.Act`` once (idempotent)."""
    if "TELU" not in Act.names:
        Act.add_factory_class("telu", TeLU, "TeLU: x * tanh(exp(x))")


register_activations()
