"""Convolution -> normalisation -> activation units and linear up-sampling shared by the Med-DisSeg blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from torch import nn

__all__ = ["conv_norm_act", "LinearUpsample", "linear_interpolation_mode"]


def conv_norm_act(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    dilation: int = 1,
    act: str | tuple | None = "telu",
    norm: str | tuple = "batch",
) -> Convolution:
    """Convolution (no bias, "same" padding) -> normalisation -> activation, as MONAI's ``Convolution`` block.

    This is the unit the Med-DisSeg paper calls CBT (Conv, BatchNorm, TeLU). ``act=None`` gives Conv -> Norm.
    """
    return Convolution(
        spatial_dims,
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        dilation=dilation,
        act=act,
        norm=norm,
        bias=False,
        adn_ordering="NA",
    )


def linear_interpolation_mode(spatial_dims: int) -> str:
    """``"bilinear"`` for 2D and ``"trilinear"`` for 3D."""
    return {1: "linear", 2: "bilinear", 3: "trilinear"}[spatial_dims]


class LinearUpsample(nn.Module):
    """(Bi/tri)linear up-sampling by an integer factor with ``align_corners=True`` (the reference's choice)."""

    def __init__(self, spatial_dims: int, scale_factor: int = 2) -> None:
        super().__init__()
        self.mode = linear_interpolation_mode(spatial_dims)
        self.scale_factor = float(scale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=True)
