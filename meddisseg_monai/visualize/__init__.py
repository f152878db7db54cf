"""PNG figures: learning curves from training histories and contact sheets of images, truths and predictions."""

from __future__ import annotations

from .contact_sheet import contact_sheet
from .curves import plot_learning_curves

__all__ = ["contact_sheet", "plot_learning_curves"]
