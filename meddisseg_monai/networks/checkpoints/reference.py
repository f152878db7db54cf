"""The reference repository's checkpoints (``checkpoint1.pth`` / ``checkpoint2.pth`` of xiaoquan-1/Med-DisSeg): its
key layout renamed to this package's module names, and its BGR first convolution reordered for RGB input.

The reference trains on OpenCV's images: BGR channel order, rows first. Its checkpoints are converted for this
package's RGB input by reversing the input channels of the first convolution (``channel_order="bgr"``, the default),
so that a converted network on an RGB image computes exactly what the reference network computes on the same image
in BGR. The orientation is the pipeline's business: the bundles transpose ``PILReader``'s (width, height) arrays to
rows first, as OpenCV reads them (``Transposed`` after ``LoadImaged``).
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn

from .state_dict import (
    StateDict,
    WeightsMismatchError,
    detect_layout,
    key_listing,
    mismatch_report,
    read_state_dict,
    source_origin,
)

__all__ = [
    "REFERENCE_CHANNEL_ORDERS",
    "convert_reference_state_dict",
    "load_reference_checkpoint",
    "rename_reference_keys",
]

# The reference repository's key layout (its MedDisSeg1 / MedDisSeg2 state dicts) -> this package's module names.
# Named groups of the rules below: "i" and "j" are the reference's 1-based indices (0-based here); a group named in
# _GROUP_NAMES is renamed through its table; any other group is kept as it is.
_GROUP_NAMES: dict[str, dict[str, object]] = {
    "branch": {"fg": 0, "bg": 1, "uc": 2},
    "decoupled": {"fg": "foreground", "bg": "background", "uc": "uncertainty"},
    "decoder": {"small": "small", "middle": "medium", "large": "large"},
    "part": {
        "c1": "reduce",
        "c2": "dense_layers.0",
        "c3": "dense_layers.1",
        "c4": "dense_layers.2",
        "ca.fc1": "channel_attention.mlp.0",
        "ca.fc2": "channel_attention.mlp.2",
        "sa.conv1": "spatial_attention.conv",
        "cbam.channel_mlp.2": "block_attention.channel.mlp.0",
        "cbam.channel_mlp.4": "block_attention.channel.mlp.2",
        "cbam.spatial_conv": "block_attention.spatial.conv",
    },
    "cdfa": {
        "v": "value",
        "attn_fg": "attention_fg",
        "attn_bg": "attention_bg",
        "proj": "projection",
        "input_cbt": "input_units",
        "output_cbt": "output_units",
    },
    "output": {"fuse": "fuse", "c1": "refine.0", "c2": "refine.1", "c3": "refine.2"},
    # the two linear layers of a channel MLP (fc1 / fc2, or fc.0 / fc.2) are its layers 0 and 2 here
    "mlp": {"fc1": 0, "fc2": 2, "0": 0, "2": 2},
    # CDFAPreprocess's conv_k follows c1 and k up-sampling steps: layer 2k + 2 of the guidance projection
    "conv": {str(k): 2 * k + 2 for k in range(8)},
}

# (pattern on the module prefix, replacement template over the pattern's named groups)
_PREFIX_RULES: list[tuple[str, str]] = [
    (r"layer0\.0\.", "encoder.conv1."),
    (r"layer0\.1\.", "encoder.bn1."),
    (r"layer1\.1\.", "encoder.layer1."),
    (r"layer(?P<level>[23])\.", "encoder.layer{level}."),
    # dilated-conv enhancement
    (r"dconv(?P<i>\d)\.c(?P<j>[1-4])\.0\.", "enhancements.{i}.branches.{j}.0."),
    (r"dconv(?P<i>\d)\.c(?P<j>[1-4])\.1\.(?P<mlp>fc[12])\.", "enhancements.{i}.branches.{j}.1.mlp.{mlp}."),
    (r"dconv(?P<i>\d)\.c5\.", "enhancements.{i}.fuse."),
    (r"dconv(?P<i>\d)\.c6\.", "enhancements.{i}.shortcut."),
    (r"dconv(?P<i>\d)\.sa\.conv1\.", "enhancements.{i}.spatial_attention.conv."),
    # decoupling and auxiliary head
    (r"decouple_layer\.cbt_(?P<decoupled>fg|bg|uc)\.", "decoupling.{decoupled}."),
    (r"aux_head\.branch_(?P<branch>fg|bg|uc)\.(?P<layer>\d+)\.", "auxiliary_heads.{branch}.layers.{layer}."),
    # guidance projections (CDFAPreprocess)
    (r"preprocess_(?P<guide>fg|bg)(?P<i>\d)\.c1\.", "{guide}_guides.{i}.layers.0."),
    (r"preprocess_(?P<guide>fg|bg)(?P<i>\d)\.preprocess\.conv_(?P<conv>\d)\.", "{guide}_guides.{i}.layers.{conv}."),
    # contrast-driven aggregation
    (r"cdfa(?P<i>\d)\.(?P<cdfa>v|attn_fg|attn_bg|proj|input_cbt|output_cbt)\.", "aggregations.{i}.{cdfa}."),
    # size-aware decoders
    (
        r"decoder_(?P<decoder>small|middle|large)\."
        r"(?P<part>c[1-4]|ca\.fc[12]|sa\.conv1|cbam\.channel_mlp\.[24]|cbam\.spatial_conv)\.",
        "decoder_{decoder}.{part}.",
    ),
    (r"output_block\.(?P<output>fuse|c[1-3])\.", "head.{output}."),
    # Stage I head ("adjust")
    (r"head\.conv(?P<i>[1-4])\.", "head.projections.{i}."),
    (r"head\.att(?P<i>[1-4])\.fc\.(?P<mlp>[02])\.", "head.attentions.{i}.channel_mlp.{mlp}."),
    (r"head\.att(?P<i>[1-4])\.spatial_conv(?P<j>[1-3])\.", "head.attentions.{i}.spatial_branches.{j}."),
    (r"head\.att(?P<i>[1-4])\.spatial_fuse\.", "head.attentions.{i}.spatial_fuse."),
    (r"head\.conv_fuse\.", "head.fuse."),
]
# the reference's Conv-BN-TeLU unit holds its layers as conv.0 (convolution) and conv.1 (norm); MONAI's Convolution
# block names them conv and adn.N
_UNIT_SUFFIX = re.compile(r"\.conv\.([01])\.(\w+)$")


def _group_value(group: str, value: str) -> str:
    if group in ("i", "j"):
        return str(int(value) - 1)
    return str(_GROUP_NAMES[group][value]) if group in _GROUP_NAMES else value


def _rename_reference_key(key: str) -> str | None:
    for pattern, template in _PREFIX_RULES:
        match = re.match(pattern, key)
        if match:
            fields = {group: _group_value(group, value) for group, value in match.groupdict().items()}
            renamed = template.format(**fields) + key[match.end() :]
            if not renamed.startswith("encoder."):
                renamed = _UNIT_SUFFIX.sub(lambda m: (".conv." if m[1] == "0" else ".adn.N.") + m[2], renamed)
            return renamed
    return None


REFERENCE_CHANNEL_ORDERS = ("bgr", "rgb")
_FIRST_CONVOLUTION = "encoder.conv1.weight"


def rename_reference_keys(
    state: StateDict, channel_order: str = "bgr", origin: str = "the given state dict"
) -> dict[str, torch.Tensor]:
    """Reference key names -> this package's; with ``channel_order="bgr"`` the first convolution's input channels are
    reversed (BGR-trained weights for RGB input)."""
    if channel_order not in REFERENCE_CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {REFERENCE_CHANNEL_ORDERS}, got {channel_order!r}.")
    renamed: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        new_key = _rename_reference_key(key)
        if new_key is None:
            unknown.append(key)
        else:
            renamed[new_key] = value
    if unknown:
        raise WeightsMismatchError(
            f"{origin}: these keys are not part of the reference Med-DisSeg layout:"
            + key_listing("unknown keys", unknown)
        )
    stem = renamed.get(_FIRST_CONVOLUTION)
    if channel_order == "bgr" and stem is not None and stem.ndim >= 2 and stem.shape[1] == 3:
        renamed[_FIRST_CONVOLUTION] = stem.flip(1).contiguous()
    return renamed


def convert_reference_state_dict(
    state: StateDict, network: nn.Module, channel_order: str = "bgr", origin: str = "the given state dict"
) -> dict[str, torch.Tensor]:
    """Convert a reference-repository state dict (``MedDisSeg1`` or ``MedDisSeg2``) to ``network``'s key layout.

    Linear layers of the reference (CBAM and ELAT channel MLPs) become 1x1 convolutions here: their weights are
    reshaped. With ``channel_order="bgr"`` the input channels of the first convolution are reversed, so the converted
    network takes RGB images where the reference took OpenCV's BGR. The result is checked against
    ``network.state_dict()``.

    Args:
        state: the reference state dict (``checkpoint1.pth`` for Stage I, ``checkpoint2.pth`` for Stage II).
        network: the target :class:`MedDisSegStage1` or :class:`MedDisSeg`, built with the reference's options
            (2D, ``in_channels=3``, ``out_channels=1``).
        channel_order: the channel order the reference weights were trained on: ``"bgr"`` (the reference reads
            images with OpenCV) or ``"rgb"`` (a reference model trained on RGB input: no reordering).
        origin: how to name the source in error messages (its file).

    Returns:
        A state dict that ``network.load_state_dict(..., strict=True)`` accepts.

    Raises:
        WeightsMismatchError: keys or shapes do not match (all differences listed).
    """
    converted = rename_reference_keys(state, channel_order, origin)
    expected = network.state_dict()
    for key, value in converted.items():
        target = expected.get(key)
        if target is not None and value.shape != target.shape and value.numel() == target.numel():
            converted[key] = value.reshape(target.shape)
    report = mismatch_report(expected, converted)
    if report:
        raise WeightsMismatchError(
            f"the reference checkpoint {origin} does not match {type(network).__name__} "
            "(Stage I checkpoints go into MedDisSegStage1, Stage II into MedDisSeg):" + report
        )
    return converted


def load_reference_checkpoint(
    network: nn.Module, source: str | os.PathLike | StateDict, channel_order: str = "bgr"
) -> None:
    """Load a reference-repository checkpoint (``checkpoint1.pth`` / ``checkpoint2.pth``) into ``network``.

    Everything is converted and checked before anything is loaded: on any error ``network`` is unchanged.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read (e.g. truncated) or holds no state dict; the message names the file.
        WeightsMismatchError: not the reference layout, or keys / shapes that do not fit ``network`` (e.g. the
            other stage's checkpoint): the message names the file and lists every difference.
    """
    state = read_state_dict(source)
    origin = source_origin(source)
    if detect_layout(state) != "reference":
        raise WeightsMismatchError(
            f"{origin} is not a reference Med-DisSeg checkpoint (expected keys such as 'layer0.0.weight'): "
            f"{sorted(state)[:8]!r}"
        )
    network.load_state_dict(convert_reference_state_dict(state, network, channel_order, origin), strict=True)
