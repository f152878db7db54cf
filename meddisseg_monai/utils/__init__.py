"""Small helpers shared by the bundle configs."""

from __future__ import annotations

from .config_values import as_bool, optional

__all__ = ["as_bool", "optional"]
