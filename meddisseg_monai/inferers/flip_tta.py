"""Test-time augmentation by flips: an inferer that averages another inferer's predictions over flipped inputs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import Inferer, SimpleInferer

from ..utils.config_values import as_bool, optional

__all__ = ["FlipTTAInferer", "flip_combinations"]

_ACTIVATIONS = ("sigmoid", "softmax")


def flip_combinations(spatial_axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every subset of ``spatial_axes``, the empty one (no flip) first: ``(0, 1) -> [(), (0,), (1,), (0, 1)]``."""
    axes = sorted(set(int(a) for a in spatial_axes))
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


class FlipTTAInferer(Inferer):
    """Run ``inferer`` on the input and on its flips, flip each prediction back and average them in probability space.

    The flips are every combination of ``spatial_axes`` (all spatial axes by default: 4 passes in 2D, 8 in 3D, the
    unflipped input included). Predictions are averaged after the activation the bundle applies next
    (``activation``): ``mean_i sigmoid(z_i)`` for binary, ``mean_i softmax(z_i)`` for multi-class. The inferer returns
    logits of that average, computed in log space (no clamping), so the post-transforms stay as they are::

        sigmoid(output) == mean_i sigmoid(z_i)     softmax(output, dim=1) == mean_i softmax(z_i, dim=1)

    With ``enabled=False`` it returns ``inferer(inputs, network)`` unchanged, which is how the bundles switch it
    (``--tta true``).

    MONAI's ``monai.data.TestTimeAugmentation`` runs random, invertible transforms on one data dictionary at a time
    through its own data loader (for uncertainty estimates); it cannot sit in an evaluator's ``inferer`` slot, so the
    flips here are ``torch.flip`` of the batch, undone on each prediction before averaging (they touch no meta data,
    so ``Invertd`` in the post-transforms sees what it sees without TTA).

    Bundle wiring::

        "inferer": {"_target_": "meddisseg_monai.inferers.FlipTTAInferer", "activation": "sigmoid",
                    "enabled": "@tta", "inferer": {"_target_": "SimpleInferer"}}

    Args:
        inferer: the inferer to run on every flip (default ``SimpleInferer``); its output must be one tensor of the
            input's spatial size (``(B, C, *spatial)``), e.g. ``SlidingWindowInferer``'s.
        activation: ``"sigmoid"`` (channels independent: binary masks, auxiliary maps) or ``"softmax"`` (over the
            channel axis: multi-class).
        spatial_axes: the spatial axes (0 = first spatial dimension) whose flips are used; ``None`` for all.
        enabled: ``False`` (or ``"false"``) to run ``inferer`` alone.

    Raises:
        ValueError: an unknown ``activation``; a negative axis; at call time, an axis the input does not have.
        TypeError: at call time, an ``inferer`` output that is not one tensor of the input's spatial size.
    """

    def __init__(
        self,
        inferer: Inferer | None = None,
        activation: str = "sigmoid",
        spatial_axes: Sequence[int] | None = None,
        enabled: bool | str = True,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"FlipTTAInferer: activation must be one of {_ACTIVATIONS}, got {activation!r}.")
        spatial_axes = optional(spatial_axes)
        if spatial_axes is not None and any(int(a) < 0 for a in spatial_axes):
            raise ValueError(
                f"FlipTTAInferer: spatial_axes must be non-negative (0 = first spatial axis), got {spatial_axes}."
            )
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.activation = activation
        self.spatial_axes = None if spatial_axes is None else tuple(int(a) for a in spatial_axes)
        self.enabled = as_bool(enabled)

    def flips(self, spatial_dims: int) -> list[tuple[int, ...]]:
        """The flips used for an input with ``spatial_dims`` spatial axes, as tuples of spatial axes (``()`` first)."""
        axes = tuple(range(spatial_dims)) if self.spatial_axes is None else self.spatial_axes
        bad = [a for a in axes if a >= spatial_dims]
        if bad:
            raise ValueError(f"FlipTTAInferer: spatial_axes {list(bad)} do not exist in a {spatial_dims}D input.")
        return flip_combinations(axes)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not self.enabled:
            return self.inferer(inputs, network, *args, **kwargs)
        flips = self.flips(inputs.ndim - 2)
        # running log-sum-exp of log p (and, for sigmoid, of log(1 - p)) over the flips
        log_p: torch.Tensor | None = None
        log_q: torch.Tensor | None = None
        for axes in flips:
            dims = [a + 2 for a in axes]
            flipped = torch.flip(inputs, dims) if dims else inputs
            logits = self.inferer(flipped, network, *args, **kwargs)
            if not isinstance(logits, torch.Tensor) or logits.shape[2:] != inputs.shape[2:]:
                raise TypeError(
                    "FlipTTAInferer needs its inferer to return one tensor of the input's spatial size "
                    f"{list(inputs.shape[2:])}, got {type(logits).__name__} "
                    f"{list(logits.shape) if isinstance(logits, torch.Tensor) else ''}."
                )
            logits = torch.flip(logits, dims) if dims else logits
            logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
            if self.activation == "sigmoid":
                lp, lq = F.logsigmoid(logits), F.logsigmoid(-logits)
                log_p = lp if log_p is None else torch.logaddexp(log_p, lp)
                log_q = lq if log_q is None else torch.logaddexp(log_q, lq)
            else:
                lp = torch.log_softmax(logits, dim=1)
                log_p = lp if log_p is None else torch.logaddexp(log_p, lp)
        assert log_p is not None  # flips always holds the identity
        if self.activation == "sigmoid":
            # logit(mean p) = log(sum p) - log(sum (1 - p)); the 1 / n factors cancel
            return log_p - log_q
        # softmax(log(mean p)) = mean p, since the mean of distributions sums to one
        return log_p - math.log(len(flips))
