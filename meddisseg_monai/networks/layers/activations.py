"""Activations used by Med-DisSeg, registered in MONAI's ``Act`` factory."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Act
from torch import nn

__all__ = ["TeLU", "telu", "register_activations"]

# tanh(exp(x)) == 1.0 exactly in float32/bfloat16/float16 once exp(x) > ~10, i.e. x > ~2.4. Clamping the argument of
# exp at 8 leaves the forward value unchanged and keeps the gradient finite: without it, exp(x) overflows to
# inf for x > 88 (float32) and autograd multiplies inf by tanh'(inf) = 0, which gives NaN.


class _TeLUFunction(torch.autograd.Function):
    """TeLU with a hand-written backward that keeps only the input.

    Autograd through ``x * tanh(exp(clamp(x)))`` saves three tensors of the input's size (exp, tanh and x) and runs
    four elementwise backward kernels; this keeps ``x`` and recomputes ``e = exp(clamp(x, max=8))`` and ``t = tanh(e)``
    in the backward pass: ``d/dx = t + x * (1 - t^2) * e`` (the clamp's gradient is 0 above 8, where ``1 - t^2`` is
    already exactly 0 in every floating type). The backward is written in differentiable operations, so double
    backward works."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.clamp(x, max=_EXP_ARGUMENT_MAX).exp_().tanh_().mul_(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        e = torch.exp(torch.clamp(x, max=_EXP_ARGUMENT_MAX))
        t = torch.tanh(e)
        if torch.is_grad_enabled():  # double backward: out of place, recorded
            return grad * t + grad * x * (1 - t * t) * e
        # the same products in place on two buffers: (grad * x) * (1 - t^2) * e + grad * t
        slope = torch.mul(t, t).neg_().add_(1).mul_(e).mul_(x).mul_(grad)
        return slope.add_(t.mul_(grad))


_EXP_ARGUMENT_MAX = 8.0  # written out as 8.0 in telu(), which TorchScript compiles (it cannot read globals)


@torch.jit.unused
def _telu_with_gradient(x: torch.Tensor) -> torch.Tensor:
    return _TeLUFunction.apply(x)


def telu(x: torch.Tensor) -> torch.Tensor:
    """TeLU(x) = x * tanh(exp(x)), computed without overflow in the forward or backward pass.

    Without gradients (inference) the same operations run in place on one new tensor, instead of allocating a tensor
    of the input's size for each of them (a 3D network at 96^3 holds maps of 100+ MB). With gradients,
    :class:`_TeLUFunction` keeps only the input for the backward pass."""
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return x * torch.tanh(torch.exp(torch.clamp(x, max=8.0)))
    if not torch.is_grad_enabled():
        return torch.clamp(x, max=8.0).exp_().tanh_().mul_(x)
    return _telu_with_gradient(x)


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
