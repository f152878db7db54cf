"""The CBAT size-aware decoder branch and the output head that fuses the small, medium and large branches."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv
from torch import nn

from .attention import ChannelAttention, ConvolutionalBlockAttention, SpatialAttention
from .convolution import conv_norm_act, linear_upsample

__all__ = ["SizeAwareDecoder", "MultiScaleOutputHead"]


class SizeAwareDecoder(nn.Module):
    """D(x, skip): up-sample ``x`` by two, concatenate ``skip``, a 1x1 unit to ``channels``, three densely connected
    Conv-Norm layers (3x3, 3x3, 1x1; each output added to all previous ones, then ReLU), channel attention, spatial
    attention and CBAM.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of ``x``.
        skip_channels: channels of ``skip``.
        channels: output channels.
        act: activation of the units and of CBAM's channel MLP.
        norm: normalisation layer.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 128,
        skip_channels: int = 128,
        channels: int = 128,
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        self.upsample = linear_upsample(spatial_dims)
        self.reduce = conv_norm_act(spatial_dims, in_channels + skip_channels, channels, 1, act=act, norm=norm)
        self.dense_layers = nn.ModuleList(
            [conv_norm_act(spatial_dims, channels, channels, k, act=None, norm=norm) for k in (3, 3, 1)]
        )
        self.relu = nn.ReLU()
        self.channel_attention = ChannelAttention(spatial_dims, channels)
        self.spatial_attention = SpatialAttention(spatial_dims)
        self.block_attention = ConvolutionalBlockAttention(spatial_dims, channels, act=act)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.reduce(torch.cat([self.upsample(x), skip], dim=1))
        previous = x
        for layer in self.dense_layers:
            x = self.relu(layer(x) + previous)
            previous = previous + x
        return self.block_attention(self.spatial_attention(self.channel_attention(x)))


class MultiScaleOutputHead(nn.Module):
    """Fuses the decoder branches at 1/2 scale and predicts full-resolution logits.

    ``medium`` is up-sampled x2 and ``large`` x4 to the scale of ``small``; concatenated -> 3x3 unit -> linear up x2
    -> 3x3 unit -> 1x1 unit (64) -> Conv1x1 to ``out_channels``.

    Args:
        spatial_dims: number of spatial dimensions.
        channels: channels of each branch.
        out_channels: output channels (logits).
        act: activation.
        norm: normalisation layer.
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int = 128,
        out_channels: int = 1,
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        self.up2 = linear_upsample(spatial_dims, 2)
        self.up4 = linear_upsample(spatial_dims, 4)
        self.fuse = conv_norm_act(spatial_dims, 3 * channels, channels, 3, act=act, norm=norm)
        self.refine = nn.Sequential(
            conv_norm_act(spatial_dims, channels, 128, 3, act=act, norm=norm),
            conv_norm_act(spatial_dims, 128, 64, 1, act=act, norm=norm),
            Conv[Conv.CONV, spatial_dims](64, out_channels, kernel_size=1),
        )

    def forward(self, small: torch.Tensor, medium: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
        x = self.fuse(torch.cat([small, self.up2(medium), self.up4(large)], dim=1))
        return self.refine(self.up2(x))
