"""Med-DisSeg networks as MONAI components (``_target_: meddisseg_monai.networks.MedDisSeg``).

Importing any part of this package imports ``layers`` first, which registers ``act="telu"`` in MONAI's ``Act``
factory (once, in :mod:`meddisseg_monai.networks.layers.activations`)."""

from __future__ import annotations

from .layers import TeLU, register_activations
from .nets import MedDisSeg, MedDisSegStage1, ResNet50Encoder

__all__ = ["MedDisSeg", "MedDisSegStage1", "ResNet50Encoder", "TeLU", "register_activations"]
