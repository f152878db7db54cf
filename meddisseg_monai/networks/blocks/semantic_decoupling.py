"""Semantic decoupling of the deepest encoder level into foreground, background and uncertainty features, and the
auxiliary head that turns each of them into a full-resolution map."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv
from torch import nn

from .convolution import conv_norm_act, linear_upsample

__all__ = ["SemanticDecoupling", "AuxiliaryMapHead"]


class SemanticDecoupling(nn.Module):
    """Three parallel stacks ``unit3x3(C -> 512) -> unit3x3(-> out) -> unit1x1`` giving f_fg, f_bg and f_uc.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of the deepest encoder level.
        out_channels: channels of each decoupled feature map.
        hidden_channels: channels of the first unit of each stack.
        act: activation.
        norm: normalisation layer.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 1024,
        out_channels: int = 128,
        hidden_channels: int = 512,
        act: str | tuple = "telu",
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()

        def stack() -> nn.Sequential:
            return nn.Sequential(
                conv_norm_act(spatial_dims, in_channels, hidden_channels, 3, act=act, norm=norm),
                conv_norm_act(spatial_dims, hidden_channels, out_channels, 3, act=act, norm=norm),
                conv_norm_act(spatial_dims, out_channels, out_channels, 1, act=act, norm=norm),
            )

        self.foreground = stack()
        self.background = stack()
        self.uncertainty = stack()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.foreground(x), self.background(x), self.uncertainty(x)


class AuxiliaryMapHead(nn.Module):
    """One auxiliary branch: four ``[unit3x3, linear up x2]`` steps (256, 256, 128, 64 channels), a 64-channel 3x3
    unit and a 1x1 convolution to one logit map at 16x the input resolution (the network's input size).

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: channels of the decoupled feature map.
        act: activation.
        norm: normalisation layer.
    """

    def __init__(
        self, spatial_dims: int, in_channels: int = 128, act: str | tuple = "telu", norm: str | tuple = "batch"
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in (256, 256, 128, 64):
            layers += [
                conv_norm_act(spatial_dims, channels, width, 3, act=act, norm=norm),
                linear_upsample(spatial_dims),
            ]
            channels = width
        layers += [
            conv_norm_act(spatial_dims, channels, 64, 3, act=act, norm=norm),
            Conv[Conv.CONV, spatial_dims](64, 1, kernel_size=1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
