"""Weights from local files: state dicts and their strict loading (``state_dict``), encoder initialisation from
ImageNet ResNet-50, Stage I or reference checkpoints (``encoder``), and the reference repository's key layout
(``reference``). Nothing here downloads anything, and nothing here imports the networks: the command line that builds
them is :mod:`meddisseg_monai.networks.weights`."""

from __future__ import annotations

from .encoder import load_encoder_weights, load_torchvision_resnet50
from .reference import (
    REFERENCE_CHANNEL_ORDERS,
    convert_reference_state_dict,
    load_reference_checkpoint,
    rename_reference_keys,
)
from .state_dict import (
    WeightsMismatchError,
    check_state_dict_fits,
    describe_state_dict,
    detect_layout,
    read_state_dict,
)

__all__ = [
    "REFERENCE_CHANNEL_ORDERS",
    "WeightsMismatchError",
    "check_state_dict_fits",
    "convert_reference_state_dict",
    "describe_state_dict",
    "detect_layout",
    "load_encoder_weights",
    "load_reference_checkpoint",
    "load_torchvision_resnet50",
    "read_state_dict",
    "rename_reference_keys",
]
