"""State dicts from local files, their key layout, and strict loading whose errors list every key that differs.

Nothing here downloads anything: every function takes a path (or an already loaded state dict).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from ...utils.listing import listing

__all__ = [
    "StateDict",
    "WeightsMismatchError",
    "check_state_dict_fits",
    "describe_state_dict",
    "detect_layout",
    "key_listing",
    "load_checked",
    "mismatch_report",
    "read_state_dict",
    "source_origin",
]

StateDict = Mapping[str, torch.Tensor]
_WRAPPER_KEYS = ("state_dict", "model", "network", "net", "module")


class WeightsMismatchError(ValueError):
    """A weights file does not fit the network; the message lists what did not match."""


def key_listing(title: str, items: list[str]) -> str:
    """``"\n  title (N):"`` and the items below it (:func:`~meddisseg_monai.utils.listing.listing`); ``""`` if none."""
    return f"\n  {title} ({len(items)}):" + listing(items, indent="    ") if items else ""


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


def mismatch_report(expected: StateDict, state: StateDict) -> str:
    """Every key missing, unexpected or of the wrong shape, as text ("" when ``state`` fits ``expected``)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    return (
        key_listing("missing from the file", missing)
        + key_listing("not in the network", unexpected)
        + key_listing("shape differs", wrong_shape)
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
    report = mismatch_report(expected, state)
    if report:
        raise WeightsMismatchError(
            f"the weights are from {describe_state_dict(state)}, but the network is {describe_state_dict(expected)}"
            " (check the checkpoint file and the network_def options, e.g. spatial_dims, in_channels, out_channels,"
            " feature_channels):" + report
        )


def load_checked(module: nn.Module, state: StateDict, what: str, ignored: list[str] | None = None) -> None:
    """Load ``state`` into ``module`` strictly, raising one error that lists every mismatch."""
    report = mismatch_report(module.state_dict(), state)
    if report:
        raise WeightsMismatchError(
            f"{what} does not match {type(module).__name__}:"
            + report
            + (f"\n  (ignored on purpose: {len(ignored)} keys such as {ignored[:3]})" if ignored else "")
        )
    module.load_state_dict(state, strict=True)


def source_origin(source: object) -> str:
    """How error messages name a weights source: the file's path, or "the given state dict"."""
    return "the given state dict" if isinstance(source, Mapping) else repr(os.fspath(source))
