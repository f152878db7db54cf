"""MONAI transforms of the Med-DisSeg bundles."""

from __future__ import annotations

from .ct import SOURCE_KEY, CheckCTVolumed, CheckSameGridd, RemapOrganLabelsd, describe_source

__all__ = ["SOURCE_KEY", "CheckCTVolumed", "CheckSameGridd", "RemapOrganLabelsd", "describe_source"]
