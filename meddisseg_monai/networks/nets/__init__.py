from __future__ import annotations

from .meddisseg import MedDisSeg
from .meddisseg_stage1 import MedDisSegStage1
from .resnet_encoder import ResNet50Encoder

__all__ = ["MedDisSeg", "MedDisSegStage1", "ResNet50Encoder"]
