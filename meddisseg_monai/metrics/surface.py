"""Hausdorff distance in the units of each image's own grid (millimetres for NIfTI / DICOM)."""

from __future__ import annotations

from typing import Any

import torch
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.metrics import HausdorffDistanceMetric

__all__ = ["GridHausdorffDistanceMetric"]


class GridHausdorffDistanceMetric(HausdorffDistanceMetric):
    """MONAI's ``HausdorffDistanceMetric`` with each item's voxel spacing taken from the affine of its ground truth.

    MONAI's metric takes ``spacing`` only as a call argument, which its Ignite handler never passes (so a bundle's
    HD95 would be in voxels); here a :class:`~monai.data.MetaTensor` ground truth supplies it, item by item. A plain
    tensor, or an explicit ``spacing``, behaves as in MONAI. An empty truth or prediction gives NaN (MONAI's
    convention), as does a class empty in both.

    Args:
        kwargs: as for ``HausdorffDistanceMetric`` (``include_background``, ``percentile``, ...).
    """

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        if kwargs.get("spacing") is None and isinstance(y, MetaTensor):
            spatial_dims = y.ndim - 2
            affine = y.affine[0] if y.affine.ndim == 3 else y.affine
            kwargs["spacing"] = [float(s) for s in affine_to_spacing(affine, r=spatial_dims)]
        return super()._compute_tensor(y_pred, y, **kwargs)
