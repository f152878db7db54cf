"""Argument and input checks shared by the Med-DisSeg networks: each failure is a ValueError saying what is expected."""

from __future__ import annotations

from monai.networks.layers.utils import get_act_layer, get_norm_layer

__all__ = ["check_network_options", "INPUT_DIVISOR"]

#: spatial sizes of the input must be multiples of this (the encoder's deepest level is at 1/16)
INPUT_DIVISOR = 16


def check_network_options(
    name: str, spatial_dims: int, in_channels: int, out_channels: int, act: str | tuple, norm: str | tuple
) -> None:
    """Raise ``ValueError`` for options a Med-DisSeg network cannot be built with."""
    if spatial_dims not in (2, 3):
        raise ValueError(f"{name}: spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    for label, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {label} must be a positive integer, got {value!r}.")
    try:
        get_act_layer(act)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{name}: unknown act {act!r} (a MONAI Act name such as 'telu' or 'relu'): {error}") from error
    try:
        get_norm_layer(norm, spatial_dims=spatial_dims, channels=8)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{name}: unknown norm {norm!r} (a MONAI Norm name such as 'batch'): {error}") from error
