"""Inferers of the bundle."""

from __future__ import annotations

from .auxiliary import AuxiliaryMapInferer

__all__ = ["AuxiliaryMapInferer"]
