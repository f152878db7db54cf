"""Writing a matplotlib figure as a PNG: the one way every figure of the package is saved."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # no display: figures are files
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["save_figure"]


def save_figure(figure: plt.Figure, path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> str:
    """Give ``figure`` its ``title``, lay it out, write it to ``path`` (folders made) and close it; returns ``path``."""
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return os.fspath(path)
