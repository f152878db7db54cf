"""Convolution -> normalisation -> activation units and linear up-sampling shared by the Med-DisSeg blocks."""

from __future__ import annotations

from monai.networks.blocks import Convolution, UpSample

__all__ = ["conv_norm_act", "linear_upsample"]


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


def linear_upsample(spatial_dims: int, scale_factor: int = 2) -> UpSample:
    """MONAI's ``UpSample``, non-trainable (bi/tri)linear by ``scale_factor`` with ``align_corners=True``.

    A local factory only to fix the reference's ``align_corners=True`` in one place; it holds no parameters, so
    checkpoint keys are those of the module it replaces.
    """
    return UpSample(
        spatial_dims, scale_factor=scale_factor, mode="nontrainable", interp_mode="linear", align_corners=True
    )
