"""Evaluation of Med-DisSeg segmentations saved as files."""

from __future__ import annotations

from .ct import ORGAN_STATUSES, CTEvaluation, evaluate_case, evaluate_cases, organ_metrics, prediction_path

__all__ = ["ORGAN_STATUSES", "CTEvaluation", "evaluate_case", "evaluate_cases", "organ_metrics", "prediction_path"]
