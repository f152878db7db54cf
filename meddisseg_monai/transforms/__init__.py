"""MONAI transforms for Med-DisSeg's 2D data: RGB images, binary masks, Stage I's photometric view, overlays."""

from __future__ import annotations

from .channels import BinarizeMask, BinarizeMaskd, EnsureRGB, EnsureRGBd, source_name
from .color import (
    RandColorJitter,
    RandColorJitterd,
    RandGrayscale,
    RandGrayscaled,
    hsv_to_rgb,
    rgb_to_grayscale,
    rgb_to_hsv,
)
from .overlay import MaskOverlay, MaskOverlayd

__all__ = [
    "BinarizeMask",
    "BinarizeMaskd",
    "EnsureRGB",
    "EnsureRGBd",
    "MaskOverlay",
    "MaskOverlayd",
    "RandColorJitter",
    "RandColorJitterd",
    "RandGrayscale",
    "RandGrayscaled",
    "hsv_to_rgb",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "source_name",
]
