"""What the two Med-DisSeg networks share: option checks, the ResNet-50 encoder, input checks, encoder weights."""

from __future__ import annotations

import os

import torch
from torch import nn

from ..checkpoints import check_state_dict_fits, load_encoder_weights
from .resnet_encoder import ResNet50Encoder
from .validation import INPUT_DIVISOR, check_network_options

__all__ = ["MedDisSegBase"]


class MedDisSegBase(nn.Module):
    """Base of :class:`MedDisSeg` and :class:`MedDisSegStage1`: holds ``encoder`` and checks inputs.

    ``auxiliary_outputs`` (as DynUNet's ``deep_supervision``): in train mode the network returns a dict of its main
    logits and the auxiliary outputs its training objective needs; otherwise, and always in eval mode, one tensor.
    The flag changes no parameter: checkpoints load the same way either way.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        act: str | tuple,
        norm: str | tuple,
        encoder_weights: str | os.PathLike | None = None,
        auxiliary_outputs: bool = False,
    ) -> None:
        super().__init__()
        check_network_options(type(self).__name__, spatial_dims, in_channels, out_channels, act, norm)
        self.network_name: str = type(self).__name__
        self.input_divisor: int = INPUT_DIVISOR
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.auxiliary_outputs = bool(auxiliary_outputs)
        self.encoder = ResNet50Encoder(spatial_dims, in_channels, norm)
        self._encoder_weights = None if encoder_weights is None else str(encoder_weights)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # type: ignore[override]
        """``nn.Module.load_state_dict``; a strict load of weights from another network (a 3D checkpoint into a 2D
        network, a Stage I file for Stage II, other channel counts) raises
        :class:`~meddisseg_monai.networks.checkpoints.WeightsMismatchError` naming both networks and every differing key
        (MONAI's ``CheckpointLoader``, ``ckpt_export`` and ``onnx_export`` load this way)."""
        if strict:
            check_state_dict_fits(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _load_initial_encoder_weights(self) -> None:
        """Called by subclasses at the end of ``__init__`` (after every module exists)."""
        if self._encoder_weights is not None:
            load_encoder_weights(self, self._encoder_weights)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, in_channels, *spatial)`` with every size a multiple of 16."""
        name = self.network_name
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(
                "{} (spatial_dims={}) expects a (batch, channel, {} spatial) tensor, got shape {}.".format(
                    name, self.spatial_dims, self.spatial_dims, list(x.shape)
                )
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                "{} expects {} input channel(s) (in_channels), got {} (shape {}).".format(
                    name, self.in_channels, x.shape[1], list(x.shape)
                )
            )
        for size in x.shape[2:]:
            if size % self.input_divisor != 0:
                raise ValueError(
                    "{} needs every spatial size to be a multiple of {}, got {}; resize or pad the input "
                    "(e.g. monai.transforms.DivisiblePad(k={})).".format(
                        name, self.input_divisor, list(x.shape[2:]), self.input_divisor
                    )
                )
