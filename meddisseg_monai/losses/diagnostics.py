"""Is the Dispersive Loss acting? Two figures computed on a real batch, without touching the training state.

- **gradient ratio**: the norm of the gradient of the *weighted* dispersive term (``w * L_disp``) on the parameters
  of the encoder's last level (ResNet ``layer3``, which produces the features the loss sees), divided by the norm of
  the mask loss's gradient on the same parameters. A term whose ratio is ~1e-4 does not move the encoder.
- **floor fraction** (InfoNCE variants): ``(L - log(1/B)) / (0 - log(1/B))``. ``log mean_{i,j} exp(-D_ij / t)`` over
  the full ``B x B`` matrix lies between its floor ``log(1/B)`` (every pair infinitely far apart: only the diagonal
  remains, and the gradient vanishes) and 0 (every sample identical). A fraction near 0 means saturated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .dispersive import DispersiveLoss

__all__ = ["floor_fraction", "dispersive_diagnostics", "encoder_last_level"]

INFONCE_VARIANTS = ("infonce_l2", "infonce_cosine")


def floor_fraction(loss: float | torch.Tensor, batch_size: int) -> float:
    """How far an InfoNCE dispersive loss is from its floor ``log(1/B)`` towards 0: 0 = saturated, 1 = collapsed."""
    floor = math.log(1.0 / batch_size)
    return (float(loss) - floor) / (0.0 - floor)


def encoder_last_level(network: nn.Module) -> list[nn.Parameter]:
    """The parameters of the encoder's last level (``encoder.layer3``) of a Med-DisSeg network (DDP unwrapped)."""
    module = getattr(network, "module", network)
    encoder = getattr(module, "encoder", None)
    if encoder is None or not hasattr(encoder, "layer3"):
        raise TypeError(f"{type(module).__name__} has no ResNet encoder with a 'layer3' (not a Med-DisSeg network?).")
    return [p for p in encoder.layer3.parameters() if p.requires_grad]


def _norm(gradients: Iterable[torch.Tensor | None]) -> float:
    squares = [g.double().pow(2).sum() for g in gradients if g is not None]
    return math.sqrt(float(torch.stack(squares).sum())) if squares else 0.0


def dispersive_diagnostics(
    network: nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    segmentation: nn.Module,
    dispersive: DispersiveLoss | Mapping[str, DispersiveLoss],
    dispersive_weight: float,
    parameters: list[nn.Parameter] | None = None,
) -> dict[str, Any]:
    """Both figures for one batch, from one train-mode forward pass of ``network``.

    Nothing of the training state changes: gradients are computed with ``torch.autograd.grad`` (``.grad`` is left as
    it is) and the normalisation layers' running statistics are restored afterwards.

    Args:
        network: a Med-DisSeg network (Stage I or II); in train mode it returns a dict with ``"pred"`` and
            ``"features"``, or one tensor (then the features come from ``network.encoder`` on the same batch).
        images: ``(B, C, *spatial)`` input batch, ``B >= 2``.
        target: its labels ``(B, 1, *spatial)``.
        segmentation: the mask loss on ``(logits, target)`` (e.g. ``MedDisSegLoss.segmentation``).
        dispersive: the dispersive loss, or several by name (all measured on the same forward pass).
        dispersive_weight: its weight ``w`` in the objective.
        parameters: where to compare gradients (default: :func:`encoder_last_level`).

    Returns:
        ``{"dispersive": L, "mask": mask loss, "floor_fraction": float or None (non-InfoNCE variants),
        "gradient_ratio": |grad w L_disp| / |grad mask|, "gradient_dispersive": ..., "gradient_mask": ...}``; for a
        mapping of losses, one such dict per name.
    """
    losses = dispersive if isinstance(dispersive, Mapping) else {"": dispersive}
    parameters = encoder_last_level(network) if parameters is None else parameters
    module = getattr(network, "module", network)
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    was_training = module.training
    results: dict[str, dict[str, Any]] = {}
    try:
        module.train()
        with torch.enable_grad():
            outputs = network(images)
            if isinstance(outputs, Mapping):
                logits, features = outputs["pred"], outputs["features"]
            else:
                logits, features = outputs, module.encoder(images)
            mask = segmentation(logits, target)
            gradient_mask = _norm(torch.autograd.grad(mask, parameters, retain_graph=True, allow_unused=True))
            for name, loss in losses.items():
                value = loss(features)
                gradient = (
                    torch.autograd.grad(dispersive_weight * value, parameters, retain_graph=True, allow_unused=True)
                    if value.requires_grad
                    else []
                )
                gradient_dispersive = _norm(gradient)
                infonce = loss.variant in INFONCE_VARIANTS and not loss.reference_formula
                results[name] = {
                    "dispersive": float(value.detach()),
                    "mask": float(mask.detach()),
                    "floor_fraction": floor_fraction(value.detach(), images.shape[0]) if infonce else None,
                    "gradient_dispersive": gradient_dispersive,
                    "gradient_mask": gradient_mask,
                    "gradient_ratio": gradient_dispersive / gradient_mask if gradient_mask > 0 else float("nan"),
                }
    finally:
        with torch.no_grad():
            for name, b in module.named_buffers():
                b.copy_(buffers[name])
        module.train(was_training)
    return results if isinstance(dispersive, Mapping) else results[""]
