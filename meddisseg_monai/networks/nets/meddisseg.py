"""Med-DisSeg, the Stage II network: the model that is trained last, evaluated and deployed."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from ...utils.enums import DECOUPLED_MAP_NAMES, FEATURES, PRED
from ..blocks import (
    AuxiliaryMapHead,
    ContrastDrivenAggregation,
    DilatedConvEnhancement,
    GuidanceProjection,
    MultiScaleOutputHead,
    SemanticDecoupling,
    SizeAwareDecoder,
    linear_upsample,
)
from .base import MedDisSegBase

__all__ = ["MedDisSeg"]


class MedDisSeg(MedDisSegBase):
    """Med-DisSeg (arXiv 2605.14579), built on ConDSeg (AAAI 2025), for 2D images and 3D volumes.

    ResNet-50 encoder -> dilated-conv enhancement of every level -> semantic decoupling of the deepest level into
    foreground / background / uncertainty features -> contrast-driven aggregation (CDFA), top-down over the four
    scales, guided by the foreground and background features -> three size-aware CBAT decoders (small, medium, large)
    -> fused output head.

    ``forward`` returns one logits tensor ``(B, out_channels, *spatial)`` at the input size, which is what MONAI
    inferers and trainers, ``verify_net_in_out``, TorchScript and MONAI Label expect. Built with
    ``auxiliary_outputs=True`` (for :class:`~meddisseg_monai.losses.MedDisSegLoss`), it returns in train mode a dict:

    - ``"pred"``: those logits;
    - ``"foreground"``, ``"background"``, ``"uncertainty"``: the auxiliary head's full-resolution logit maps
      (one channel each); they are computed only then;
    - ``"features"``: the encoder levels ``[f1, f2, f3, f4]``, shallow to deep, for the Dispersive Loss.

    Every spatial size of the input must be a multiple of 16.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (3 for RGB images, 1 for CT).
        out_channels: 1 for binary segmentation (sigmoid), N for N classes including background (softmax).
        feature_channels: width of the enhancement, decoupling, aggregation and decoder stages (128 in the paper).
        num_heads: CDFA attention heads.
        window_size: CDFA window size per dimension.
        dilations: dilation rates of the enhancement branches.
        act: activation of the Med-DisSeg blocks (MONAI ``Act`` name, default TeLU; the encoder keeps ReLU).
        norm: normalisation layer of the whole network.
        encoder_weights: optional local file to initialise the encoder from: a torchvision ResNet-50 state dict
            (2D only), a Stage I checkpoint, or a reference-repository checkpoint. Never downloaded. Without it the
            encoder starts from the reference's ResNet initialisation (kaiming normal, fan_out).
        auxiliary_outputs: return the dict above in train mode (the auxiliary heads exist either way).

    Example:

    .. code-block:: python

        net = MedDisSeg(spatial_dims=2, in_channels=3, out_channels=1).eval()
        logits = net(torch.rand(1, 3, 256, 256))  # (1, 1, 256, 256)
        outputs = MedDisSeg(auxiliary_outputs=True).train()(torch.rand(2, 3, 256, 256))  # dict, for MedDisSegLoss
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int = 1,
        feature_channels: int = 128,
        num_heads: int = 4,
        window_size: int = 3,
        dilations: Sequence[int] = (6, 12, 18),
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
        encoder_weights: str | os.PathLike | None = None,
        auxiliary_outputs: bool = False,
    ) -> None:
        super().__init__(spatial_dims, in_channels, out_channels, act, norm, encoder_weights, auxiliary_outputs)
        if not isinstance(feature_channels, int) or feature_channels < 1 or feature_channels % num_heads != 0:
            raise ValueError(
                f"MedDisSeg: feature_channels must be a positive multiple of num_heads ({num_heads}), "
                f"got {feature_channels!r}."
            )
        if window_size < 1 or window_size % 2 != 1:
            raise ValueError(f"MedDisSeg: window_size must be a positive odd integer, got {window_size!r}.")
        width = feature_channels
        units = {"act": act, "norm": norm}
        self.enhancements = nn.ModuleList(
            [
                DilatedConvEnhancement(spatial_dims, c, width, dilations=dilations, **units)
                for c in self.encoder.out_channels
            ]
        )
        self.decoupling = SemanticDecoupling(spatial_dims, self.encoder.out_channels[-1], width, **units)
        self.auxiliary_heads = nn.ModuleList(
            [AuxiliaryMapHead(spatial_dims, width, **units) for _ in DECOUPLED_MAP_NAMES]
        )
        # f_fg and f_bg (at 1/16) brought to the scale of each level: x8 (1/2), x4, x2, x1 (1/16)
        scales = (8, 4, 2, 1)
        self.fg_guides = nn.ModuleList([GuidanceProjection(spatial_dims, width, s, **units) for s in scales])
        self.bg_guides = nn.ModuleList([GuidanceProjection(spatial_dims, width, s, **units) for s in scales])
        cdfa = {"channels": width, "num_heads": num_heads, "kernel_size": window_size, **units}
        self.aggregations = nn.ModuleList(
            [ContrastDrivenAggregation(spatial_dims, 2 * width, **cdfa) for _ in range(3)]
            + [ContrastDrivenAggregation(spatial_dims, width, **cdfa)]
        )
        self.upsample = linear_upsample(spatial_dims)
        self.decoder_small = SizeAwareDecoder(spatial_dims, width, width, width, **units)
        self.decoder_medium = SizeAwareDecoder(spatial_dims, width, width, width, **units)
        self.decoder_large = SizeAwareDecoder(spatial_dims, width, width, width, **units)
        self.head = MultiScaleOutputHead(spatial_dims, width, out_channels, **units)
        self._load_initial_encoder_weights()

    def forward(self, x: torch.Tensor):
        self.check_input(x)
        features = self.encoder(x)
        f1, f2, f3, f4 = features[0], features[1], features[2], features[3]
        e1, e2 = self.enhancements[0](f1), self.enhancements[1](f2)
        e3, e4 = self.enhancements[2](f3), self.enhancements[3](f4)
        f_fg, f_bg, f_uc = self.decoupling(f4)

        # contrast-driven aggregation, deep to shallow
        a4 = self.aggregations[3](e4, self.fg_guides[3](f_fg), self.bg_guides[3](f_bg))
        a3 = self.aggregations[2](
            torch.cat([e3, self.upsample(a4)], 1), self.fg_guides[2](f_fg), self.bg_guides[2](f_bg)
        )
        a2 = self.aggregations[1](
            torch.cat([e2, self.upsample(a3)], 1), self.fg_guides[1](f_fg), self.bg_guides[1](f_bg)
        )
        a1 = self.aggregations[0](
            torch.cat([e1, self.upsample(a2)], 1), self.fg_guides[0](f_fg), self.bg_guides[0](f_bg)
        )

        # size-aware decoders and fused output
        small = self.decoder_small(a2, a1)
        medium = self.decoder_medium(a3, a2)
        large = self.decoder_large(a4, a3)
        logits = self.head(small, medium, large)

        if not torch.jit.is_scripting():
            if self.training and self.auxiliary_outputs:
                return self._training_outputs(logits, (f_fg, f_bg, f_uc), features)
        return logits

    @torch.jit.unused
    def _training_outputs(
        self, logits: torch.Tensor, decoupled: tuple[torch.Tensor, ...], features: list[torch.Tensor]
    ) -> dict:
        outputs: dict = {PRED: logits, FEATURES: features}
        for name, head, decoupled_map in zip(DECOUPLED_MAP_NAMES, self.auxiliary_heads, decoupled):
            outputs[name] = head(decoupled_map)
        return outputs
