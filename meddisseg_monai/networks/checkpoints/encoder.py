"""Encoder initialisation: ImageNet ResNet-50 (torchvision layout), a Stage I / Stage II checkpoint of this package,
or a reference-repository checkpoint, all from local files."""

from __future__ import annotations

import os

from torch import nn

from .reference import rename_reference_keys
from .state_dict import StateDict, WeightsMismatchError, detect_layout, load_checked, read_state_dict, source_origin

__all__ = ["load_encoder_weights", "load_torchvision_resnet50"]


def _encoder_of(network: nn.Module) -> nn.Module:
    encoder = getattr(network, "encoder", None)
    if encoder is None:
        raise TypeError(f"{type(network).__name__} has no 'encoder' to load weights into.")
    return encoder


def load_torchvision_resnet50(
    network: nn.Module, source: str | os.PathLike | StateDict, adapt_input_channels: bool = True
) -> None:
    """Initialise a Med-DisSeg encoder from an ImageNet ResNet-50 state dict in torchvision's layout (a local file).

    ``layer4`` and ``fc`` are not used by Med-DisSeg and are ignored; every other key must match. When the network
    has ``in_channels != 3`` and ``adapt_input_channels`` is set, the first convolution's RGB kernels are averaged and
    repeated (scaled by ``3 / in_channels``).

    Args:
        network: a :class:`MedDisSeg` / :class:`MedDisSegStage1` (or anything with a 2D ``encoder``).
        source: path of the ``.pth`` file (e.g. ``resnet50-19c8e357.pth`` or ``resnet50-0676ba61.pth``) or a state dict.
        adapt_input_channels: whether to adapt ``conv1`` to a non-RGB input.

    Raises:
        WeightsMismatchError: keys or shapes differ (all differences listed).
        ValueError: the network is 3D (ImageNet weights are 2D).
    """
    encoder = _encoder_of(network)
    if encoder.conv1.weight.ndim != 4:
        raise ValueError("ImageNet ResNet-50 weights are 2D; a 3D encoder cannot load them (train it from scratch).")
    state = read_state_dict(source)
    if detect_layout(state) != "torchvision":
        raise WeightsMismatchError(
            f"expected a torchvision ResNet-50 state dict (keys conv1.weight, bn1.*, layer1.0.conv1.weight, ...), "
            f"found keys {sorted(state)[:8]!r}"
        )
    ignored = sorted(k for k in state if k.startswith(("layer4.", "fc.")))
    state = {k: v for k, v in state.items() if k not in ignored}
    in_channels = encoder.conv1.weight.shape[1]
    stem = state.get("conv1.weight")
    if adapt_input_channels and stem is not None and stem.ndim == 4 and stem.shape[1] == 3 and in_channels != 3:
        state["conv1.weight"] = stem.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) * (3.0 / in_channels)
    load_checked(encoder, state, "the torchvision ResNet-50 weights", ignored)


def load_encoder_weights(network: nn.Module, source: str | os.PathLike | StateDict) -> str:
    """Initialise ``network.encoder`` from a local file of any supported layout.

    The layout is detected from the keys: a torchvision ResNet-50 state dict, a checkpoint of this package
    (:class:`MedDisSegStage1` or :class:`MedDisSeg`, e.g. Stage I's ``model.pt``, possibly inside a CheckpointSaver
    dict), or a reference-repository checkpoint (converted on the fly). Only the encoder is loaded; every encoder key
    must be present with the right shape.

    Returns:
        The detected layout (``"torchvision"``, ``"meddisseg"`` or ``"reference"``).

    Raises:
        WeightsMismatchError: unknown layout, missing encoder keys or wrong shapes (all listed).
    """
    state = read_state_dict(source)
    layout = detect_layout(state)
    if layout == "torchvision":
        load_torchvision_resnet50(network, state)
        return layout
    if layout == "reference":
        state = rename_reference_keys(state, origin=source_origin(source))
    elif layout != "meddisseg":
        raise WeightsMismatchError(
            "cannot tell what these weights are: expected a torchvision ResNet-50 state dict, a Med-DisSeg checkpoint "
            f"(keys 'encoder.*') or a reference checkpoint (keys 'layer0.*'); found keys {sorted(state)[:8]!r}"
        )
    prefix = "encoder."
    encoder_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    ignored = [k for k in state if not k.startswith(prefix)]
    what = f"the encoder weights in the {layout} checkpoint {source_origin(source)}"
    load_checked(_encoder_of(network), encoder_state, what, ignored)
    return layout
