"""Training iterations of Med-DisSeg for MONAI's Ignite engines."""

from __future__ import annotations

from .training_steps import AUTOCAST_DTYPES, MultiOutputTrainingStep, TwoViewTrainingStep, autocast_context, loss_terms

__all__ = ["AUTOCAST_DTYPES", "MultiOutputTrainingStep", "TwoViewTrainingStep", "autocast_context", "loss_terms"]
