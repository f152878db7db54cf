"""Weights from local files: ImageNet ResNet-50 (torchvision layout), Stage I checkpoints, and the reference
repository's released checkpoints (``checkpoint1.pth`` / ``checkpoint2.pth`` of xiaoquan-1/Med-DisSeg).

Nothing here downloads anything: every function takes a path (or an already loaded state dict).

The reference trains on OpenCV's images: BGR channel order, rows first. Its checkpoints are converted for this
package's RGB input by reversing the input channels of the first convolution (``channel_order="bgr"``, the default),
so that a converted network on an RGB image computes exactly what the reference network computes on the same image
in BGR. The orientation is the pipeline's business: the bundles transpose ``PILReader``'s (width, height) arrays to
rows first, as OpenCV reads them (``Transposed`` after ``LoadImaged``).

Command line (``python -m meddisseg_monai.networks.weights``)::

    # reference checkpoint -> a state dict for MedDisSeg (e.g. a bundle's models/model.pt)
    python -m meddisseg_monai.networks.weights convert_reference checkpoint2.pth models/model.pt --stage 2
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

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
]

StateDict = Mapping[str, torch.Tensor]
_WRAPPER_KEYS = ("state_dict", "model", "network", "net", "module")
_MAX_LISTED = 20


class WeightsMismatchError(ValueError):
    """A weights file does not fit the network; the message lists what did not match."""


def _listing(title: str, items: list[str]) -> str:
    if not items:
        return ""
    shown = "\n    ".join(items[:_MAX_LISTED])
    more = f"\n    ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"\n  {title} ({len(items)}):\n    {shown}{more}"


def read_state_dict(source: str | os.PathLike | StateDict) -> dict[str, torch.Tensor]:
    """Read a state dict from a local file (or pass one through), unwrapping common checkpoint containers.

    Accepts a plain state dict, or a dict holding it under ``state_dict`` / ``model`` / ``network`` / ``net`` (Ignite
    and MONAI ``CheckpointSaver`` files with several objects), and strips a ``module.`` prefix (DataParallel / DDP).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not a PyTorch state dict.
    """
    if isinstance(source, Mapping):
        state = dict(source)
        origin = "the given state dict"
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file not found: {path!r} (weights are only read from local files)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unpickling failure means "not a state dict"
            raise ValueError(f"{path!r} is not a readable PyTorch weights file: {error}") from error
        origin = repr(path)
    for _ in range(2):
        if isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
            nested = [k for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)]
            if not nested:
                break
            state = state[nested[0]]
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{origin} does not hold a state dict of tensors (keys: {list(state)[:10]!r}).")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def detect_layout(state: StateDict) -> str:
    """Name the key layout of a state dict.

    Returns:
        ``"meddisseg"`` (this package: keys ``encoder.*``), ``"reference"`` (the reference repository:
        ``layer0.0.weight`` ...), ``"torchvision"`` (``conv1.weight``, ``layer1.0.conv1.weight`` ...) or ``"unknown"``.
    """
    if any(k.startswith("encoder.") for k in state):
        return "meddisseg"
    if "layer0.0.weight" in state:
        return "reference"
    if "conv1.weight" in state and any(k.startswith("layer1.0.") for k in state):
        return "torchvision"
    return "unknown"


def _mismatch_report(expected: StateDict, state: StateDict) -> str:
    """Every key missing, unexpected or of the wrong shape, as text ("" when ``state`` fits ``expected``)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    return (
        _listing("missing from the file", missing)
        + _listing("not in the network", unexpected)
        + _listing("shape differs", wrong_shape)
    )


def describe_state_dict(state: StateDict) -> str:
    """What network a state dict is from, in words: ``"MedDisSeg (3D, 1 input channel(s), 14 output channel(s),
    feature_channels 32)"``, ``"MedDisSegStage1 (2D, ...)"``, or ``"not a Med-DisSeg network (torchvision layout)"``."""
    layout = detect_layout(state)
    stem = state.get("encoder.conv1.weight")
    if layout != "meddisseg" or stem is None:
        return f"not a Med-DisSeg network ({layout} layout, first keys {list(state)[:3]})"
    if "head.refine.2.weight" in state:
        name, out = "MedDisSeg", state["head.refine.2.weight"].shape[0]
    elif "head.fuse.weight" in state:
        name, out = "MedDisSegStage1", state["head.fuse.weight"].shape[0]
    else:
        name, out = "an unknown network with a Med-DisSeg encoder", None
    parts = [f"{stem.ndim - 2}D", f"{stem.shape[1]} input channel(s)"]
    if out is not None:
        parts.append(f"{out} output channel(s)")
    if "aggregations.3.value.weight" in state:
        parts.append(f"feature_channels {state['aggregations.3.value.weight'].shape[0]}")
    return f"{name} ({', '.join(parts)})"


def check_state_dict_fits(network: nn.Module, state: StateDict) -> None:
    """Raise :class:`WeightsMismatchError` unless ``state`` loads strictly into ``network``; the message says which
    network each side is (dimensions, channels, width) and lists every key that differs."""
    expected = network.state_dict()
    report = _mismatch_report(expected, state)
    if report:
        raise WeightsMismatchError(
            f"the weights are from {describe_state_dict(state)}, but the network is {describe_state_dict(expected)}"
            " (check the checkpoint file and the network_def options, e.g. spatial_dims, in_channels, out_channels,"
            " feature_channels):" + report
        )


def _load_checked(module: nn.Module, state: StateDict, what: str, ignored: list[str] | None = None) -> None:
    """Load ``state`` into ``module`` strictly, raising one error that lists every mismatch."""
    report = _mismatch_report(module.state_dict(), state)
    if report:
        raise WeightsMismatchError(
            f"{what} does not match {type(module).__name__}:"
            + report
            + (f"\n  (ignored on purpose: {len(ignored)} keys such as {ignored[:3]})" if ignored else "")
        )
    module.load_state_dict(state, strict=True)


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
    _load_checked(encoder, state, "the torchvision ResNet-50 weights", ignored)


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
        state = _rename_reference_keys(state, origin=_origin(source))
    elif layout != "meddisseg":
        raise WeightsMismatchError(
            "cannot tell what these weights are: expected a torchvision ResNet-50 state dict, a Med-DisSeg checkpoint "
            f"(keys 'encoder.*') or a reference checkpoint (keys 'layer0.*'); found keys {sorted(state)[:8]!r}"
        )
    prefix = "encoder."
    encoder_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    ignored = [k for k in state if not k.startswith(prefix)]
    _load_checked(
        _encoder_of(network), encoder_state, f"the encoder weights in the {layout} checkpoint {_origin(source)}", ignored
    )
    return layout


# ---------------------------------------------------------------------------------------------------------------------
# The reference repository's key layout (its MedDisSeg1 / MedDisSeg2 state dicts) -> this package's module names.

_BRANCHES = {"fg": 0, "bg": 1, "uc": 2}
_DECOUPLED = {"fg": "foreground", "bg": "background", "uc": "uncertainty"}
_DECODERS = {"small": "small", "middle": "medium", "large": "large"}
_DECODER_PARTS = {
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
}
_CDFA_PARTS = {
    "v": "value",
    "attn_fg": "attention_fg",
    "attn_bg": "attention_bg",
    "proj": "projection",
    "input_cbt": "input_units",
    "output_cbt": "output_units",
}
_OUTPUT_PARTS = {"fuse": "fuse", "c1": "refine.0", "c2": "refine.1", "c3": "refine.2"}


def _minus_one(text: str) -> int:
    return int(text) - 1


# (pattern on the module prefix, replacement); a replacement may use match groups through a function.
_PREFIX_RULES: list[tuple[str, Callable[[re.Match], str]]] = [
    (r"^layer0\.0\.", lambda m: "encoder.conv1."),
    (r"^layer0\.1\.", lambda m: "encoder.bn1."),
    (r"^layer1\.1\.", lambda m: "encoder.layer1."),
    (r"^layer([23])\.", lambda m: f"encoder.layer{m[1]}."),
    # dilated-conv enhancement
    (r"^dconv(\d)\.c([1-4])\.0\.", lambda m: f"enhancements.{_minus_one(m[1])}.branches.{_minus_one(m[2])}.0."),
    (r"^dconv(\d)\.c([1-4])\.1\.fc1\.", lambda m: f"enhancements.{_minus_one(m[1])}.branches.{_minus_one(m[2])}.1.mlp.0."),
    (r"^dconv(\d)\.c([1-4])\.1\.fc2\.", lambda m: f"enhancements.{_minus_one(m[1])}.branches.{_minus_one(m[2])}.1.mlp.2."),
    (r"^dconv(\d)\.c5\.", lambda m: f"enhancements.{_minus_one(m[1])}.fuse."),
    (r"^dconv(\d)\.c6\.", lambda m: f"enhancements.{_minus_one(m[1])}.shortcut."),
    (r"^dconv(\d)\.sa\.conv1\.", lambda m: f"enhancements.{_minus_one(m[1])}.spatial_attention.conv."),
    # decoupling and auxiliary head
    (r"^decouple_layer\.cbt_(fg|bg|uc)\.", lambda m: f"decoupling.{_DECOUPLED[m[1]]}."),
    (r"^aux_head\.branch_(fg|bg|uc)\.(\d+)\.", lambda m: f"auxiliary_heads.{_BRANCHES[m[1]]}.layers.{m[2]}."),
    # guidance projections (CDFAPreprocess)
    (r"^preprocess_(fg|bg)(\d)\.c1\.", lambda m: f"{m[1]}_guides.{_minus_one(m[2])}.layers.0."),
    (
        r"^preprocess_(fg|bg)(\d)\.preprocess\.conv_(\d)\.",
        lambda m: f"{m[1]}_guides.{_minus_one(m[2])}.layers.{2 * int(m[3]) + 2}.",
    ),
    # contrast-driven aggregation
    (
        r"^cdfa(\d)\.(v|attn_fg|attn_bg|proj|input_cbt|output_cbt)\.",
        lambda m: f"aggregations.{_minus_one(m[1])}.{_CDFA_PARTS[m[2]]}.",
    ),
    # size-aware decoders
    (
        r"^decoder_(small|middle|large)\.(c[1-4]|ca\.fc[12]|sa\.conv1|cbam\.channel_mlp\.[24]|cbam\.spatial_conv)\.",
        lambda m: f"decoder_{_DECODERS[m[1]]}.{_DECODER_PARTS[m[2]]}.",
    ),
    (r"^output_block\.(fuse|c[1-3])\.", lambda m: f"head.{_OUTPUT_PARTS[m[1]]}."),
    # Stage I head ("adjust")
    (r"^head\.conv([1-4])\.", lambda m: f"head.projections.{_minus_one(m[1])}."),
    (r"^head\.att([1-4])\.fc\.0\.", lambda m: f"head.attentions.{_minus_one(m[1])}.channel_mlp.0."),
    (r"^head\.att([1-4])\.fc\.2\.", lambda m: f"head.attentions.{_minus_one(m[1])}.channel_mlp.2."),
    (
        r"^head\.att([1-4])\.spatial_conv([1-3])\.",
        lambda m: f"head.attentions.{_minus_one(m[1])}.spatial_branches.{_minus_one(m[2])}.",
    ),
    (r"^head\.att([1-4])\.spatial_fuse\.", lambda m: f"head.attentions.{_minus_one(m[1])}.spatial_fuse."),
    (r"^head\.conv_fuse\.", lambda m: "head.fuse."),
]
# the reference's Conv-BN-TeLU unit holds its layers as conv.0 (convolution) and conv.1 (norm); MONAI's Convolution
# block names them conv and adn.N
_UNIT_SUFFIX = re.compile(r"\.conv\.([01])\.(\w+)$")


def _rename_reference_key(key: str) -> str | None:
    for pattern, replacement in _PREFIX_RULES:
        match = re.match(pattern, key)
        if match:
            renamed = replacement(match) + key[match.end() :]
            if not renamed.startswith("encoder."):
                renamed = _UNIT_SUFFIX.sub(lambda m: (".conv." if m[1] == "0" else ".adn.N.") + m[2], renamed)
            return renamed
    return None


REFERENCE_CHANNEL_ORDERS = ("bgr", "rgb")
_FIRST_CONVOLUTION = "encoder.conv1.weight"


def _origin(source: object) -> str:
    """How error messages name a weights source: the file's path, or "the given state dict"."""
    return "the given state dict" if isinstance(source, Mapping) else repr(os.fspath(source))


def _rename_reference_keys(
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
            f"{origin}: these keys are not part of the reference Med-DisSeg layout:" + _listing("unknown keys", unknown)
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
    converted = _rename_reference_keys(state, channel_order, origin)
    expected = network.state_dict()
    for key, value in converted.items():
        target = expected.get(key)
        if target is not None and value.shape != target.shape and value.numel() == target.numel():
            converted[key] = value.reshape(target.shape)
    report = _mismatch_report(expected, converted)
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
    origin = _origin(source)
    if detect_layout(state) != "reference":
        raise WeightsMismatchError(
            f"{origin} is not a reference Med-DisSeg checkpoint (expected keys such as 'layer0.0.weight'): "
            f"{sorted(state)[:8]!r}"
        )
    network.load_state_dict(convert_reference_state_dict(state, network, channel_order, origin), strict=True)


def convert_reference(checkpoint: str, output: str, stage: int = 2, channel_order: str = "bgr") -> str:
    """Command line: convert a reference checkpoint into a state dict of this package's network and save it.

    Args:
        checkpoint: the reference file (``checkpoint1.pth`` for ``stage=1``, ``checkpoint2.pth`` for ``stage=2``).
        output: where to write the converted state dict (e.g. ``bundle/.../models/model.pt``).
        stage: 1 (:class:`MedDisSegStage1`) or 2 (:class:`MedDisSeg`).
        channel_order: ``"bgr"`` (the reference's OpenCV input, converted for RGB) or ``"rgb"``.
    """
    from .nets import MedDisSeg, MedDisSegStage1

    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage!r}")
    network = MedDisSegStage1() if stage == 1 else MedDisSeg()
    load_reference_checkpoint(network, checkpoint, channel_order)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    torch.save(network.state_dict(), output)
    return f"converted {checkpoint} (stage {stage}) -> {output}"


if __name__ == "__main__":
    import fire

    fire.Fire({"convert_reference": convert_reference})
