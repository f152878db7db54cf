"""Med-DisSeg networks as MONAI components (``_target_: meddisseg_monai.networks.MedDisSeg``)."""

from __future__ import annotations

from .layers import TeLU, register_activations
from .nets import MedDisSeg, MedDisSegStage1, ResNet50Encoder

register_activations()

__all__ = ["MedDisSeg", "MedDisSegStage1", "ResNet50Encoder", "TeLU", "register_activations"]
