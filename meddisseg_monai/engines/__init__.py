"""Med-DisSeg's Ignite engines: Stage I's two-view trainer (Stage II uses MONAI's ``SupervisedTrainer``)."""

from __future__ import annotations

from .trainers import TwoViewTrainer

__all__ = ["TwoViewTrainer"]
