"""Metrics of the Med-DisSeg paper as MONAI metrics."""

from __future__ import annotations

from .overlap import OVERLAP_METRIC_NAMES, PerImageOverlapMetric, overlap_scores
from .surface import GridHausdorffDistanceMetric

__all__ = ["OVERLAP_METRIC_NAMES", "GridHausdorffDistanceMetric", "PerImageOverlapMetric", "overlap_scores"]
