"""Med-DisSeg losses (``_target_: meddisseg_monai.losses.DispersiveLoss`` etc.)."""

from __future__ import annotations

from .composite import (
    AUXILIARY_WEIGHTINGS,
    MedDisSegLoss,
    MedDisSegStage1Loss,
    auxiliary_weight,
    complementary_loss,
    foreground_union,
)
from .dispersive import DISPERSIVE_VARIANTS, FEATURE_POOLINGS, LEVEL_CHOICES, DispersiveLoss
from .segmentation import dice_bce_loss, hard_consistency_loss, multiclass_dice_ce_loss, segmentation_loss

__all__ = [
    "AUXILIARY_WEIGHTINGS",
    "DISPERSIVE_VARIANTS",
    "DispersiveLoss",
    "FEATURE_POOLINGS",
    "LEVEL_CHOICES",
    "MedDisSegLoss",
    "MedDisSegStage1Loss",
    "auxiliary_weight",
    "complementary_loss",
    "dice_bce_loss",
    "foreground_union",
    "hard_consistency_loss",
    "multiclass_dice_ce_loss",
    "segmentation_loss",
]
