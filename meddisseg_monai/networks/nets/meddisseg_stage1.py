"""Med-DisSeg Stage I: the encoder with a light ELAT head, trained with consistency and the Dispersive Loss."""

from __future__ import annotations

import os

import torch

from ...utils.enums import FEATURES, PRED
from ..blocks import EncoderAttentionHead
from .base import MedDisSegBase

__all__ = ["MedDisSegStage1"]


class MedDisSegStage1(MedDisSegBase):
    """Stage I network: the ResNet-50 encoder and the ELAT head ("adjust block").

    Each encoder level goes to full resolution through a 1x1 unit (64 channels) and ELAT; the four maps are
    concatenated and a bias-free Conv1x1 predicts ``out_channels`` logits. After Stage I, the encoder initialises
    Stage II (:class:`MedDisSeg` with ``encoder_weights=<stage I checkpoint>``) and the head is discarded.

    ``forward`` returns the logits tensor; built with ``auxiliary_outputs=True`` (for
    :class:`~meddisseg_monai.losses.MedDisSegStage1Loss`), in train mode a dict with ``"pred"`` (logits) and
    ``"features"`` (encoder levels ``[f1, f2, f3, f4]``, shallow to deep).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: 1 for binary segmentation, N for N classes including background.
        head_channels: channels of each level in the head (64 in the paper).
        act: activation of the head (default TeLU; the encoder keeps ReLU).
        norm: normalisation layer.
        encoder_weights: optional local file to initialise the encoder from (torchvision ResNet-50 state dict for
            2D, or a reference-repository checkpoint); without it, the reference's ResNet initialisation.
        auxiliary_outputs: return the dict above in train mode.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 1,
        head_channels: int = 64,
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
        encoder_weights: str | os.PathLike | None = None,
        auxiliary_outputs: bool = False,
    ) -> None:
        super().__init__(spatial_dims, in_channels, out_channels, act, norm, encoder_weights, auxiliary_outputs)
        self.head = EncoderAttentionHead(
            spatial_dims,
            self.encoder.out_channels,
            self.encoder.reductions,
            out_channels,
            channels=head_channels,
            act=act,
            norm=norm,
        )
        self._load_initial_encoder_weights()

    def forward(self, x: torch.Tensor):
        self.check_input(x)
        features = self.encoder(x)
        logits = self.head(features)
        if not torch.jit.is_scripting():
            if self.training and self.auxiliary_outputs:
                return {PRED: logits, FEATURES: features}
        return logits
