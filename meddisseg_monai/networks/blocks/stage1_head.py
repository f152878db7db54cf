"""The Stage I head ("adjust block"): every encoder level to full resolution, 64 channels and ELAT, then fused."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv
from monai.networks.layers.utils import get_act_layer
from torch import nn

from .attention import EncoderLevelAttention
from .convolution import conv_norm_act, linear_upsample

__all__ = ["EncoderAttentionHead"]


class EncoderAttentionHead(nn.Module):
    """Stage I head: per level, a 1x1 unit to ``channels`` at full resolution followed by ELAT; the levels are
    concatenated and a bias-free Conv1x1 gives ``out_channels`` logits.

    The reference up-samples each level before its 1x1 unit (Conv1x1 -> BatchNorm -> TeLU). Here the bias-free 1x1
    convolution runs at the level's own resolution and the normalisation and activation after up-sampling: linear
    interpolation commutes with a 1x1 convolution, so the normalisation sees exactly the reference's full-resolution
    map, in train mode too (its batch statistics, hence the Stage I objective, its gradients and the running
    statistics, are the reference's), while the 1024-channel map is never materialised at full resolution. (An
    earlier version also normalised before up-sampling: identical in eval mode, but the batch statistics of the
    coarse map differ from those of the interpolated one, which changed the Stage I loss by ~0.4 % and its gradients
    by ~40 % at 64^2.) The checkpoint keys are those of a ``conv_norm_act`` unit per level (``projections.i.conv``,
    ``projections.i.adn``).

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of each encoder level, shallow to deep.
        scales: down-sampling factor of each level relative to the input.
        out_channels: output channels (logits).
        channels: channels per level after the 1x1 unit.
        act: activation.
        norm: normalisation layer.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: Sequence[int] = (64, 256, 512, 1024),
        scales: Sequence[int] = (2, 4, 8, 16),
        out_channels: int = 1,
        channels: int = 64,
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        if len(in_channels) != len(scales):
            raise ValueError(f"in_channels ({len(in_channels)}) and scales ({len(scales)}) must have the same length.")
        self.projections = nn.ModuleList(
            [conv_norm_act(spatial_dims, c, channels, 1, act=None, norm=norm) for c in in_channels]
        )
        self.upsamples = nn.ModuleList([linear_upsample(spatial_dims, s) for s in scales])
        self.act = get_act_layer(act)
        self.attentions = nn.ModuleList([EncoderLevelAttention(spatial_dims, channels, act=act) for _ in in_channels])
        self.fuse = Conv[Conv.CONV, spatial_dims](channels * len(in_channels), out_channels, kernel_size=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        levels: list[torch.Tensor] = []
        for i, (projection, upsample, attention) in enumerate(zip(self.projections, self.upsamples, self.attentions)):
            # conv at the level's resolution, then up-sample, then normalise: the reference's statistics (see above)
            levels.append(attention(self.act(projection.adn(upsample(projection.conv(features[i]))))))
        return self.fuse(torch.cat(levels, dim=1))
