"""MONAI transforms of the Med-DisSeg bundles: 2D RGB images, binary masks, Stage I's photometric view, overlays;
coarse dropout sized at the source resolution; a cheap first reduction of very large inputs; the main output of a
train-mode output dict; CT volume checks and organ label remapping."""

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
from .ct import SOURCE_KEY, CheckCTVolumed, CheckSameGridd, RemapOrganLabelsd
from .dropout import RandSourceCoarseDropoutd, source_hole_size
from .outputs import MainOutputd
from .overlay import MaskOverlay, MaskOverlayd
from .resize import ShrinkLarge, ShrinkLarged, shrunk_size

__all__ = [
    "SOURCE_KEY",
    "CheckCTVolumed",
    "CheckSameGridd",
    "RemapOrganLabelsd",
    "BinarizeMask",
    "BinarizeMaskd",
    "EnsureRGB",
    "EnsureRGBd",
    "MainOutputd",
    "MaskOverlay",
    "MaskOverlayd",
    "RandSourceCoarseDropoutd",
    "ShrinkLarge",
    "ShrinkLarged",
    "shrunk_size",
    "RandColorJitter",
    "RandColorJitterd",
    "RandGrayscale",
    "RandGrayscaled",
    "hsv_to_rgb",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "source_hole_size",
    "source_name",
]
