"""The segmentation criteria the composite losses are built from (MONAI's DiceCELoss, configured as in the paper)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss

__all__ = ["dice_bce_loss", "multiclass_dice_ce_loss", "segmentation_loss", "hard_consistency_loss"]


def dice_bce_loss(smooth: float = 1.0) -> DiceCELoss:
    """Binary DiceBCE on logits: soft Dice over the whole batch (``smooth`` in numerator and denominator) plus mean
    binary cross-entropy, as the paper's DiceBCE (computed from logits, which is numerically stable)."""
    return DiceCELoss(sigmoid=True, batch=True, smooth_nr=smooth, smooth_dr=smooth)


def multiclass_dice_ce_loss(smooth: float = 1.0) -> DiceCELoss:
    """Multi-class softmax Dice (over the batch, every class) plus cross-entropy; the target holds class ids."""
    return DiceCELoss(softmax=True, to_onehot_y=True, batch=True, smooth_nr=smooth, smooth_dr=smooth)


def segmentation_loss(out_channels: int, smooth: float = 1.0) -> DiceCELoss:
    """DiceBCE for ``out_channels == 1``, softmax Dice + CE otherwise."""
    return dice_bce_loss(smooth) if out_channels == 1 else multiclass_dice_ce_loss(smooth)


def hard_consistency_loss(logits: torch.Tensor, reference_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits`` against the hard prediction of ``reference_logits`` (no gradient through it):
    BCE against ``sigmoid > 0.5`` for one channel, CE against the argmax for several."""
    reference_logits = reference_logits.detach()
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits, (reference_logits > 0).to(logits.dtype))
    return F.cross_entropy(logits, reference_logits.argmax(dim=1))
