"""Inferers of the bundles: auxiliary maps beside the logits, mixed precision around any inferer."""

from __future__ import annotations

from .auxiliary import AuxiliaryMapInferer
from .autocast import AutocastInferer

__all__ = ["AuxiliaryMapInferer", "AutocastInferer"]
