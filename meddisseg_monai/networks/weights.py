"""Command line for weights, and the one import path of the weight functions (``networks.weights``).

The functions live in :mod:`meddisseg_monai.networks.checkpoints` (state-dict reading and strict loading, encoder
initialisation, the reference repository's key layout) and are re-exported here. This module is the only one of them
that builds networks, so it is the only one importing :mod:`meddisseg_monai.networks.nets`.

Command line (``python -m meddisseg_monai.networks.weights``)::

    # reference checkpoint -> a state dict for MedDisSeg (e.g. a bundle's models/model.pt)
    python -m meddisseg_monai.networks.weights convert_reference checkpoint2.pth models/model.pt --stage 2
"""

from __future__ import annotations

import os

import fire
import torch

from .checkpoints import (
    REFERENCE_CHANNEL_ORDERS,
    WeightsMismatchError,
    check_state_dict_fits,
    convert_reference_state_dict,
    describe_state_dict,
    detect_layout,
    load_encoder_weights,
    load_reference_checkpoint,
    load_torchvision_resnet50,
    read_state_dict,
)
from .nets import MedDisSeg, MedDisSegStage1

__all__ = [
    "WeightsMismatchError",
    "read_state_dict",
    "detect_layout",
    "describe_state_dict",
    "check_state_dict_fits",
    "load_torchvision_resnet50",
    "load_encoder_weights",
    "convert_reference_state_dict",
    "load_reference_checkpoint",
    "REFERENCE_CHANNEL_ORDERS",
    "convert_reference",
]


def convert_reference(checkpoint: str, output: str, stage: int = 2, channel_order: str = "bgr") -> str:
    """Command line: convert a reference checkpoint into a state dict of this package's network and save it.

    Args:
        checkpoint: the reference file (``checkpoint1.pth`` for ``stage=1``, ``checkpoint2.pth`` for ``stage=2``).
        output: where to write the converted state dict (e.g. ``bundle/.../models/model.pt``).
        stage: 1 (:class:`MedDisSegStage1`) or 2 (:class:`MedDisSeg`).
        channel_order: ``"bgr"`` (the reference's OpenCV input, converted for RGB) or ``"rgb"``.
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    network = MedDisSegStage1() if stage == 1 else MedDisSeg()
    load_reference_checkpoint(network, checkpoint, channel_order)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    torch.save(network.state_dict(), output)
    return f"converted {checkpoint} (stage {stage}) -> {output}"


def main() -> None:
    """``python -m meddisseg_monai.networks.weights convert_reference ...``"""
    fire.Fire({"convert_reference": convert_reference})


if __name__ == "__main__":
    main()
