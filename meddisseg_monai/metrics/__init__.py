"""Metrics of the Med-DisSeg paper as MONAI metrics."""

from __future__ import annotations

from .overlap import OVERLAP_METRIC_NAMES, PerImageOverlapMetric, overlap_scores

__all__ = ["OVERLAP_METRIC_NAMES", "PerImageOverlapMetric", "overlap_scores"]
