"""Inferers of the bundles: auxiliary maps beside the logits, mixed precision around any inferer, flip TTA."""

from __future__ import annotations

from .autocast import AutocastInferer
from .auxiliary import AuxiliaryMapInferer
from .flip_tta import FlipTTAInferer, flip_combinations

__all__ = ["AuxiliaryMapInferer", "AutocastInferer", "FlipTTAInferer", "flip_combinations"]
