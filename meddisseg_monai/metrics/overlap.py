"""The paper's per-image overlap metrics (IoU, Dice, recall, precision) as a MONAI metric."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

__all__ = ["PerImageOverlapMetric", "OVERLAP_METRIC_NAMES", "overlap_scores"]

OVERLAP_METRIC_NAMES = ("iou", "dice", "recall", "precision")


def overlap_scores(y_pred: torch.Tensor, y: torch.Tensor, eps: float = 1e-15) -> torch.Tensor:
    """Per image and channel ``[IoU, Dice, recall, precision]`` of binary maps, with the paper's convention::

        IoU = (TP + eps) / (|P| + |G| - TP + eps)      Dice = (2 TP + eps) / (|P| + |G| + eps)
        recall = (TP + eps) / (|G| + eps)               precision = (TP + eps) / (|P| + eps)

    So an empty prediction of an empty ground truth scores 1 everywhere, and an empty prediction of a non-empty truth
    (or the reverse) scores ~0.

    Args:
        y_pred: binary ``(B, C, *spatial)``.
        y: binary ``(B, C, *spatial)``.

    Returns:
        ``(B, C, 4)`` float64 scores.
    """
    dims = list(range(2, y_pred.ndim))
    p, g = y_pred.bool(), y.bool()  # counted in float64 without a float64 copy of the maps (full-size CT volumes)
    tp = (p & g).sum(dim=dims, dtype=torch.float64)
    n_pred = p.sum(dim=dims, dtype=torch.float64)
    n_true = g.sum(dim=dims, dtype=torch.float64)
    return torch.stack(
        [
            (tp + eps) / (n_pred + n_true - tp + eps),
            (2 * tp + eps) / (n_pred + n_true + eps),
            (tp + eps) / (n_true + eps),
            (tp + eps) / (n_pred + eps),
        ],
        dim=-1,
    )


class PerImageOverlapMetric(CumulativeIterationMetric):
    """Per-image IoU, Dice, recall and precision averaged over images: the metric of the Med-DisSeg tables.

    Unlike MONAI's ``DiceMetric`` (which by default ignores images with an empty ground truth), every image counts:
    the ``eps`` convention of :func:`overlap_scores` scores an empty prediction of an empty truth as 1. Inputs are
    thresholded at ``threshold`` (pass probabilities or binary masks; for several channels, one-hot maps, of which
    ``include_background=False`` drops channel 0).

    ``aggregate()`` returns the mean of ``metric_name`` (a scalar, as Ignite handlers need), or a dict of all four
    means with ``metric_name=None``. ``get_buffer()`` holds the per-image ``(N, C, 4)`` scores.

    Args:
        metric_name: ``"iou"``, ``"dice"``, ``"recall"``, ``"precision"`` or ``None`` (all, as a dict).
        threshold: binarisation threshold for ``y_pred`` and ``y``.
        include_background: keep channel 0 when there are several channels.
        eps: the paper's smoothing constant.
        reduction: how per-image (and per-channel) values are reduced (MONAI ``MetricReduction``).
        get_not_nans: also return the count of non-NaN values (MONAI convention).

    Example:

    .. code-block:: python

        metric = PerImageOverlapMetric("dice")
        metric(y_pred=torch.sigmoid(logits), y=labels)
        mean_dice = metric.aggregate().item()
    """

    def __init__(
        self,
        metric_name: str | None = "dice",
        threshold: float = 0.5,
        include_background: bool = True,
        eps: float = 1e-15,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        if metric_name is not None and metric_name not in OVERLAP_METRIC_NAMES:
            raise ValueError(f"metric_name must be one of {OVERLAP_METRIC_NAMES} or None, got {metric_name!r}.")
        self.metric_name = metric_name
        self.threshold = threshold
        self.include_background = include_background
        self.eps = eps
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if y_pred.shape != y.shape:
            raise ValueError(f"y_pred and y must have the same shape, got {tuple(y_pred.shape)} and {tuple(y.shape)}.")
        if y_pred.ndim < 3:
            raise ValueError(f"expected (B, C, *spatial) inputs, got shape {tuple(y_pred.shape)}.")
        if not self.include_background and y_pred.shape[1] > 1:
            y_pred, y = y_pred[:, 1:], y[:, 1:]
        return overlap_scores(y_pred > self.threshold, y > self.threshold, self.eps)

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor] | tuple[torch.Tensor, torch.Tensor]:
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError(f"the data to aggregate must be a PyTorch Tensor, got {type(data)}.")
        names: Sequence[str] = OVERLAP_METRIC_NAMES if self.metric_name is None else (self.metric_name,)
        results = {}
        for name in names:
            values, not_nans = do_metric_reduction(
                data[..., OVERLAP_METRIC_NAMES.index(name)], reduction or self.reduction
            )
            results[name] = (values, not_nans)
        if self.metric_name is None:
            return {name: value for name, (value, _) in results.items()}
        value, not_nans = results[self.metric_name]
        return (value, not_nans) if self.get_not_nans else value
