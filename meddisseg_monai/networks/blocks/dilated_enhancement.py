"""The dilated-convolution feature enhancement applied to every encoder level (ConDSeg's FEM)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .attention import ChannelAttention, SpatialAttention
from .convolution import conv_norm_act

__all__ = ["DilatedConvEnhancement"]


class DilatedConvEnhancement(nn.Module):
    """Multi-rate context enhancement of one encoder level.

    Four branches (a 1x1 unit and 3x3 units with dilation 6, 12, 18), each followed by channel attention, are
    concatenated and fused by Conv3x3-Norm; a Conv1x1-Norm shortcut of the input is added, then ReLU and spatial
    attention.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of the encoder level.
        out_channels: channels of the enhanced map.
        dilations: dilation rates of the 3x3 branches.
        act: activation of the branch units.
        norm: normalisation layer.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int = 128,
        dilations: Sequence[int] = (6, 12, 18),
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        branch_units = [conv_norm_act(spatial_dims, in_channels, out_channels, 1, act=act, norm=norm)]
        branch_units += [
            conv_norm_act(spatial_dims, in_channels, out_channels, 3, dilation=d, act=act, norm=norm) for d in dilations
        ]
        self.branches = nn.ModuleList(
            [nn.Sequential(unit, ChannelAttention(spatial_dims, out_channels)) for unit in branch_units]
        )
        self.fuse = conv_norm_act(spatial_dims, out_channels * len(branch_units), out_channels, 3, act=None, norm=norm)
        self.shortcut = conv_norm_act(spatial_dims, in_channels, out_channels, 1, act=None, norm=norm)
        self.relu = nn.ReLU()
        self.spatial_attention = SpatialAttention(spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))
        return self.spatial_attention(self.relu(fused + self.shortcut(x)))
