"""Learning curves: one panel per quantity, one line per run, from the records of
:class:`~meddisseg_monai.handlers.EpochHistoryHandler`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from matplotlib.ticker import MaxNLocator

from .figures import plt, save_figure

__all__ = ["plot_learning_curves"]

LABELS = {
    "train_loss": "training loss (all terms)",
    "val_mean_dice": "validation mDSC",
    "val_mean_iou": "validation mIoU",
    "val_mask_loss": "validation DiceBCE (main output)",
    "val_loss": "validation objective (all terms)",
}


def plot_learning_curves(
    histories: Mapping[str, Sequence[Mapping]],
    path: str | os.PathLike,
    quantities: Sequence[str] = ("train_loss", "val_mean_dice"),
    title: str | None = None,
    reference_lines: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """Write a PNG with one panel per quantity (x: epoch) and one line per run.

    Args:
        histories: run name -> the epochs of its history (dicts with ``"epoch"`` and the quantities; a missing or
            ``None`` value is left out of the line).
        path: the PNG file to write.
        quantities: the history keys to plot, one panel each.
        title: the figure's title.
        reference_lines: quantity -> {label: value}, drawn as dashed horizontal lines (e.g. the untrained network).

    Returns:
        ``path``.
    """
    figure, axes = plt.subplots(1, len(quantities), figsize=(5.2 * len(quantities), 4.0), squeeze=False)
    for axis, quantity in zip(axes[0], quantities):
        for name, epochs in histories.items():
            points = [(e["epoch"], e[quantity]) for e in epochs if e.get(quantity) is not None]
            if points:
                x, y = zip(*points)
                axis.plot(x, y, marker="o", markersize=3, label=name)
        for label, value in ((reference_lines or {}).get(quantity) or {}).items():
            if value is None:
                continue
            axis.axhline(value, linestyle="--", color="grey", linewidth=1)
            axis.annotate(
                label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=8, color="grey", va="bottom"
            )
        if quantity.endswith("loss") and all(
            e[quantity] > 0 for epochs in histories.values() for e in epochs if e.get(quantity) is not None
        ):
            axis.set_yscale("log")  # one early outlier epoch would flatten the rest of a loss curve
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(LABELS.get(quantity, quantity))
        axis.grid(alpha=0.3)
        if len(histories) > 1:
            axis.legend(fontsize=8)
    return save_figure(figure, path, title, dpi=110)
