"""A contact sheet: for each case, the image, the ground truth and the prediction side by side."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import to_rgba

from .figures import plt, save_figure

__all__ = ["contact_sheet"]


def contact_sheet(
    cases: Sequence[dict],
    path: str | os.PathLike,
    columns: int = 2,
    title: str | None = None,
) -> str:
    """Write a PNG grid with three panels per case: image, truth contour over the image, prediction over the image.

    Args:
        cases: dicts with ``"image"`` (H x W x 3 uint8 or float in [0, 1]), ``"label"`` and ``"pred"`` (H x W, non-zero
            = foreground, same size as the image) and an optional ``"title"`` (e.g. the case's name and Dice).
        path: the PNG file to write.
        columns: cases per row (each case takes three panels).
        title: the figure's title.

    Returns:
        ``path``.
    """
    if not cases:
        raise ValueError("contact_sheet needs at least one case.")
    rows = -(-len(cases) // columns)
    figure, axes = plt.subplots(rows, 3 * columns, figsize=(2.2 * 3 * columns, 2.3 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for index, case in enumerate(cases):
        row, column = divmod(index, columns)
        image = np.asarray(case["image"])
        for offset, (name, mask, colour) in enumerate(
            (("image", None, None), ("truth", case["label"], "lime"), ("prediction", case["pred"], "red"))
        ):
            axis = axes[row, 3 * column + offset]
            axis.imshow(image)
            if mask is not None:
                mask = np.asarray(mask) > 0
                if mask.shape != image.shape[:2]:
                    raise ValueError(f"case {index}: {name} is {mask.shape}, the image {image.shape[:2]}.")
                overlay = np.zeros((*mask.shape, 4))
                overlay[mask] = to_rgba(colour, 0.4)
                axis.imshow(overlay)
                if mask.any() and not mask.all():
                    axis.contour(mask, levels=[0.5], colors=colour, linewidths=0.8)
            label = name if offset else case.get("title", name)
            axis.set_title(label, fontsize=7)
    return save_figure(figure, path, title)
