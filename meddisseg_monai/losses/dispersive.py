"""The Dispersive Loss (Wang & He, arXiv 2506.09027) as Med-DisSeg uses it on encoder features."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from ..utils.precision import loss_dtype

__all__ = ["DispersiveLoss", "DISPERSIVE_VARIANTS", "DISTANCE_SCALES", "FEATURE_POOLINGS", "LEVEL_CHOICES"]

DISPERSIVE_VARIANTS = ("infonce_l2", "infonce_cosine", "hinge", "covariance")
DISTANCE_SCALES = ("batch", "dimension", "unit")
FEATURE_POOLINGS = ("flatten", "avg", "max")
LEVEL_CHOICES = ("early", "mid", "late", "all")
# the reference adds this inside its log to avoid log(0); with real features it is all that remains (see below)
_REFERENCE_LOG_EPS = 1e-8


class DispersiveLoss(_Loss):
    """Dispersive Loss: an "InfoNCE without positives" that spreads the hidden features of a batch apart.

    With ``z_i`` the feature vector of sample ``i`` and ``D`` a distance::

        infonce_l2 / infonce_cosine:  L = log mean_{i,j} exp(-D(z_i, z_j) / temperature)
        hinge:                        L = mean_{i != j} max(0, margin - D(z_i, z_j))^2
        covariance:                   L = sum_{m != n} Cov(z / |z|)_{mn}^2

    The default form is chosen by measurement (``benchmarks/dispersive_choice.py``, results in
    ``benchmarks/results/dispersive_choice_*.json``) on ResNet-50 layer3 features of real Kvasir-SEG images: the
    feature map is average-pooled to a ``C``-vector (``pooling="avg"``) and ``D`` is the squared L2 distance divided by
    the batch's own mean off-diagonal squared distance (``distance_scale="batch"``, a coefficient without gradient),
    ``temperature=0.5``. That form is scale-free (the loss does not depend on the magnitude or the dimension of the
    features, nor on the input resolution), so it cannot saturate at its floor ``log(1/B)``: the off-diagonal distances
    average 1, so by Jensen's inequality ``L >= log((B + (B^2 - B) exp(-1 / t)) / B^2)``, at batch 8 and ``t = 0.5``
    at least 32 % of the way from the floor to 0 (measured: ~40 %), and its weighted (0.2) gradient on layer3 is a few
    percent of the mask loss's.
    Wang & He's form (flattened features, ``D / dimension``, ``distance_scale="dimension"``, ``pooling="flatten"``)
    sits within 0.2 % of the floor on the same features and its gradient is ~1e-4 of the mask loss's. The mean is taken
    over the full ``B x B`` matrix with log-sum-exp. The covariance variant never forms the ``d x d`` covariance (``d``
    = 262,144 for flattened layer3 features at 256^2): it uses ``|C|_F^2 = |Z Z^T|_F^2 / (B-1)^2``, which needs
    ``O(B^2 + B d)`` memory.

    ``reference_formula=True`` reproduces the reference repository's computation exactly, for ablations: flattened
    features, unsquared, unnormalised ``torch.cdist`` distances over the off-diagonal pairs,
    ``log(mean(exp(-D / t)) + 1e-8)`` for the InfoNCE variants, margin 1 on the unsquared distance for the hinge,
    covariance of the raw (centred, not normalised) features; ``distance_scale`` does not apply. On ResNet-50 layer3
    features of real 256^2 images those distances are ~1e3, ``exp(-D/0.5)`` underflows to 0 in float32, the loss is
    the constant ``log(1e-8)`` and its gradient is exactly zero, which is why it is not the default.

    Args:
        variant: one of ``"infonce_l2"``, ``"infonce_cosine"``, ``"hinge"``, ``"covariance"``.
        temperature: ``tau`` of the InfoNCE variants (> 0).
        levels: which encoder levels to use when the input is a sequence of feature maps (shallow to deep): ``"late"``
            (the deepest, f4 = ResNet layer3: the paper's choice), ``"mid"``, ``"early"``, ``"all"`` (every level), an
            index, or a sequence of indices. Named levels follow the reference's rule for ``n`` levels: early = n // 4,
            mid = n // 2, late = 3n // 4 (for four levels: f2, f3, f4).
        pooling: how a feature map ``(B, C, *spatial)`` becomes a vector: ``"avg"`` or ``"max"`` (global pooling to
            ``C`` values), ``"flatten"`` (all ``C x prod(spatial)`` values, the paper's choice). Default: ``"avg"``, or
            ``"flatten"`` with ``reference_formula=True``.
        distance_scale: how the squared L2 distance of ``infonce_l2`` and ``hinge`` is made scale-free: ``"batch"``
            (divided by the batch's mean off-diagonal squared distance, detached), ``"dimension"`` (divided by the
            vector length, Wang & He's code) or ``"unit"`` (vectors L2-normalised first, ``D = 2 - 2 cos``).
        hinge_margin: ``margin`` of the hinge variant.
        reference_formula: reproduce the reference repository's exact formula (see above).
        reduction: how the per-level losses combine when several levels are used: ``"mean"``, ``"sum"`` or ``"none"``
            (a vector, one value per level).

    Example:

    .. code-block:: python

        loss_fn = DispersiveLoss()  # infonce_l2, tau 0.5, deepest level, average-pooled, batch-scaled
        outputs = network(images)  # a Med-DisSeg network in train mode
        loss = loss_fn(outputs["features"])  # a scalar
        loss = loss_fn(torch.randn(8, 1024, 16, 16))  # one feature tensor also works

    Raises:
        ValueError: unknown or contradictory options; a batch of fewer than 2 samples.
    """

    def __init__(
        self,
        variant: str = "infonce_l2",
        temperature: float = 0.5,
        levels: str | int | Sequence[int] = "late",
        pooling: str | None = None,
        distance_scale: str = "batch",
        hinge_margin: float = 1.0,
        reference_formula: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if variant not in DISPERSIVE_VARIANTS:
            raise ValueError(f"DispersiveLoss: unknown variant {variant!r}; choose one of {DISPERSIVE_VARIANTS}.")
        if not temperature > 0:
            raise ValueError(f"DispersiveLoss: temperature must be > 0, got {temperature!r}.")
        if distance_scale not in DISTANCE_SCALES:
            raise ValueError(
                f"DispersiveLoss: unknown distance_scale {distance_scale!r}; choose one of {DISTANCE_SCALES}."
            )
        if pooling is None:
            pooling = "flatten" if reference_formula else "avg"
        if pooling not in FEATURE_POOLINGS:
            raise ValueError(f"DispersiveLoss: unknown pooling {pooling!r}; choose one of {FEATURE_POOLINGS}.")
        if isinstance(levels, str) and levels not in LEVEL_CHOICES:
            raise ValueError(f"DispersiveLoss: unknown levels {levels!r}; choose one of {LEVEL_CHOICES} or indices.")
        if reference_formula and pooling != "flatten":
            raise ValueError(
                "DispersiveLoss: reference_formula=True reproduces the reference, which flattens the feature map; "
                f"pooling={pooling!r} contradicts it."
            )
        self.variant = variant
        self.temperature = float(temperature)
        self.levels = levels
        self.pooling = pooling
        self.distance_scale = distance_scale
        self.hinge_margin = float(hinge_margin)
        self.reference_formula = reference_formula

    def select_levels(self, num_levels: int) -> list[int]:
        """Indices of the feature levels this loss uses out of ``num_levels`` (shallow to deep)."""
        if isinstance(self.levels, str):
            if self.levels == "all":
                return list(range(num_levels))
            index = {"early": num_levels // 4, "mid": num_levels // 2, "late": 3 * num_levels // 4}[self.levels]
            return [min(index, num_levels - 1)]
        indices = [self.levels] if isinstance(self.levels, int) else list(self.levels)
        for index in indices:
            if not -num_levels <= index < num_levels:
                raise ValueError(f"DispersiveLoss: level index {index} is out of range for {num_levels} feature maps.")
        return [i % num_levels for i in indices]

    def to_vectors(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, *spatial)`` (or ``(B, d)``) -> ``(B, d)`` float32 vectors (float64 for float64 features), by
        ``pooling``."""
        if features.ndim < 2:
            raise ValueError(
                f"DispersiveLoss: expected a (batch, ...) feature tensor, got shape {tuple(features.shape)}."
            )
        features = features.to(loss_dtype(features))
        if features.ndim > 2 and self.pooling != "flatten":
            dims = list(range(2, features.ndim))
            features = features.mean(dim=dims) if self.pooling == "avg" else features.amax(dim=dims)
        return features.reshape(features.shape[0], -1)

    def forward(self, features: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            features: one feature tensor ``(B, ...)``, or the encoder levels ``[f1, ..., fn]`` (shallow to deep), of
                which ``levels`` chooses.

        Returns:
            A scalar (or, with ``reduction="none"``, one value per used level).
        """
        if isinstance(features, torch.Tensor):
            selected = [features]
        else:
            features = list(features)
            if not features:
                raise ValueError("DispersiveLoss: got an empty sequence of feature maps.")
            selected = [features[i] for i in self.select_levels(len(features))]
        losses = torch.stack([self._dispersion(self.to_vectors(f)) for f in selected])
        if self.reduction == LossReduction.MEAN.value:
            return losses.mean()
        if self.reduction == LossReduction.SUM.value:
            return losses.sum()
        return losses

    def _dispersion(self, z: torch.Tensor) -> torch.Tensor:
        batch = z.shape[0]
        if batch < 2:
            raise ValueError(
                f"DispersiveLoss needs at least 2 samples per batch to compare (got {batch}); use batch_size >= 2."
            )
        if self.reference_formula:
            return self._reference_dispersion(z)
        if self.variant == "covariance":
            return _offdiagonal_covariance_energy(F.normalize(z, dim=1))
        if self.variant == "infonce_cosine":
            normalised = F.normalize(z, dim=1)
            distance = 1.0 - normalised @ normalised.T
        else:
            distance = self._scaled_squared_distances(z)
        if self.variant == "hinge":
            off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=z.device)
            return torch.clamp(self.hinge_margin - distance[off_diagonal], min=0).pow(2).mean()
        return torch.logsumexp((-distance / self.temperature).reshape(-1), dim=0) - math.log(batch * batch)

    def _scaled_squared_distances(self, z: torch.Tensor) -> torch.Tensor:
        """Squared L2 distances ``(B, B)`` of the ``infonce_l2`` / ``hinge`` variants, scaled by ``distance_scale``."""
        if self.distance_scale == "unit":
            return _squared_distances(F.normalize(z, dim=1))
        distance = _squared_distances(z)
        if self.distance_scale == "dimension":
            return distance / z.shape[1]
        batch = z.shape[0]
        # the batch's own scale: mean off-diagonal distance, a coefficient (no gradient), never 0
        scale = distance.detach().sum() / (batch * (batch - 1))
        return distance / scale.clamp_min(torch.finfo(distance.dtype).tiny)

    def _reference_dispersion(self, z: torch.Tensor) -> torch.Tensor:
        """The reference repository's formulas, operation for operation (covariance computed in bounded memory)."""
        batch = z.shape[0]
        if self.variant == "covariance":
            return _offdiagonal_covariance_energy(z)
        off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=z.device)
        if self.variant == "infonce_cosine":
            normalised = F.normalize(z, p=2, dim=1)
            distance = (1 - normalised @ normalised.T)[off_diagonal]
        else:
            distance = torch.cdist(z, z, p=2)[off_diagonal]
        if self.variant == "hinge":
            return torch.clamp(self.hinge_margin - distance, min=0).pow(2).mean()
        return torch.log(torch.exp(-distance / self.temperature).mean() + _REFERENCE_LOG_EPS)


def _squared_distances(z: torch.Tensor) -> torch.Tensor:
    """All pairwise squared L2 distances ``(B, B)``, exact zeros on the diagonal, never negative.

    Centring first (distances do not change) keeps the Gram-matrix form accurate when the vectors share a large
    common component.
    """
    z = z - z.mean(dim=0, keepdim=True)
    gram = z @ z.T
    norms = gram.diagonal()
    distance = (norms[:, None] + norms[None, :] - 2.0 * gram).clamp_min(0.0)
    return distance * (1.0 - torch.eye(z.shape[0], dtype=z.dtype, device=z.device))


def _offdiagonal_covariance_energy(z: torch.Tensor) -> torch.Tensor:
    """``sum_{m != n} C_mn^2`` for ``C = Zc^T Zc / (B - 1)`` (``Zc`` = centred ``z``), without forming ``C``.

    ``sum_{m,n} C_mn^2 = |Zc Zc^T|_F^2 / (B-1)^2`` and ``C_mm = sum_i Zc_im^2 / (B-1)``. Computed in float64: the
    off-diagonal energy is the difference of two much larger sums.
    """
    dtype = z.dtype
    z = z.double()
    centred = z - z.mean(dim=0, keepdim=True)
    denominator = (z.shape[0] - 1) ** 2
    total = (centred @ centred.T).pow(2).sum()
    diagonal = centred.pow(2).sum(dim=0).pow(2).sum()
    return ((total - diagonal) / denominator).to(dtype)
