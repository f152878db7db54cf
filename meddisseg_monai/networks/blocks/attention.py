"""Channel and spatial attention blocks: CA, SA, CBAM and ELAT, for 2D and 3D feature maps."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv
from monai.networks.layers.utils import get_act_layer
from torch import nn

__all__ = ["ChannelAttention", "SpatialAttention", "ConvolutionalBlockAttention", "EncoderLevelAttention"]


def _global_pool(x: torch.Tensor, mode: str) -> torch.Tensor:
    dims = list(range(2, x.ndim))
    if mode == "avg":
        return x.mean(dim=dims, keepdim=True)
    return x.amax(dim=dims, keepdim=True)


class ChannelAttention(nn.Module):
    """Channel attention: a shared two-layer MLP on the global average and max pools, summed, sigmoid, times ``x``.

    The MLP is built from 1x1 convolutions (parameter-identical to linear layers).

    Args:
        spatial_dims: number of spatial dimensions.
        channels: number of input (and output) channels.
        reduction: hidden size is ``channels // reduction`` (at least 1).
        act: activation between the two MLP layers (MONAI ``Act`` name or ``(name, kwargs)``).
        bias: whether the MLP layers have a bias.
    """

    def __init__(
        self, spatial_dims: int, channels: int, reduction: int = 16, act: str | tuple = "relu", bias: bool = False
    ) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            conv(channels, hidden, kernel_size=1, bias=bias),
            get_act_layer(act),
            conv(hidden, channels, kernel_size=1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.mlp(_global_pool(x, "avg")) + self.mlp(_global_pool(x, "max"))
        return x * torch.sigmoid(weights)


class SpatialAttention(nn.Module):
    """Spatial attention: a ``kernel_size`` convolution over [channel mean, channel max], sigmoid, times ``x``.

    Args:
        spatial_dims: number of spatial dimensions.
        kernel_size: odd kernel size of the attention convolution.
        bias: whether that convolution has a bias.
    """

    def __init__(self, spatial_dims: int, kernel_size: int = 7, bias: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"SpatialAttention needs an odd kernel_size, got {kernel_size}.")
        self.conv = Conv[Conv.CONV, spatial_dims](2, 1, kernel_size=kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        descriptor = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(descriptor))


class ConvolutionalBlockAttention(nn.Module):
    """CBAM (Woo et al., ECCV 2018) as Med-DisSeg's CBAT decoder uses it: channel MLP with TeLU and biases, then a
    7x7 spatial attention with bias.

    Args:
        spatial_dims: number of spatial dimensions.
        channels: number of channels.
        reduction: channel MLP reduction ratio.
        act: activation of the channel MLP.
    """

    def __init__(self, spatial_dims: int, channels: int, reduction: int = 16, act: str | tuple = "telu") -> None:
        super().__init__()
        self.channel = ChannelAttention(spatial_dims, channels, reduction=reduction, act=act, bias=True)
        self.spatial = SpatialAttention(spatial_dims, kernel_size=7, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


class EncoderLevelAttention(nn.Module):
    """ELAT: ``x * c * s``, Med-DisSeg's Stage I attention on each encoder level.

    ``c = sigmoid(Linear(C -> C/8, no bias) -> act -> Linear(C/8 -> C, no bias))`` on the global average pool;
    ``s = sigmoid(Conv1x1(3 -> 1))`` over three 3x3 convolutions ``C -> 1`` with dilation 1, 2 and 3.

    Args:
        spatial_dims: number of spatial dimensions.
        channels: number of channels.
        reduction: channel MLP reduction ratio.
        act: activation of the channel MLP.
    """

    def __init__(self, spatial_dims: int, channels: int, reduction: int = 8, act: str | tuple = "telu") -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        hidden = max(channels // reduction, 1)
        self.channel_mlp = nn.Sequential(
            conv(channels, hidden, kernel_size=1, bias=False),
            get_act_layer(act),
            conv(hidden, channels, kernel_size=1, bias=False),
        )
        self.spatial_branches = nn.ModuleList(
            [conv(channels, 1, kernel_size=3, padding=d, dilation=d) for d in (1, 2, 3)]
        )
        self.spatial_fuse = conv(3, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_weights = torch.sigmoid(self.channel_mlp(_global_pool(x, "avg")))
        spatial = torch.cat([branch(x) for branch in self.spatial_branches], dim=1)
        spatial_weights = torch.sigmoid(self.spatial_fuse(spatial))
        return x * channel_weights * spatial_weights
