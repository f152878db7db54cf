"""Command-line programs of the package that are not a bundle workflow: ``meddisseg-container`` (the images'
entrypoint, :mod:`meddisseg_monai.cli.container`)."""

from __future__ import annotations

__all__: list[str] = []
