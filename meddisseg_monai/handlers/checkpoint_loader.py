"""MONAI's ``CheckpointLoader`` with errors that name the file and say what is wrong with it.

MONAI's loader hands a truncated file to ``torch.load`` (a bare zip error) and a checkpoint of another network to
``load_state_dict`` (a wall of missing and unexpected keys, without the path). :class:`CheckedCheckpointLoader`
reads the file itself and says, in one line that names the file, whether it is missing, empty, truncated or not a
PyTorch file, a Stage I checkpoint given where a Stage II model belongs (or the other way round), or a network of
another shape, naming the network the file does hold (``spatial_dims``, ``in_channels``, ``out_channels``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from ignite.engine import Engine
from ignite.handlers import Checkpoint
from monai.handlers import CheckpointLoader
from monai.networks.utils import copy_model_state

__all__ = ["CheckpointError", "CheckedCheckpointLoader", "describe_state_dict", "read_checkpoint", "check_state_dict"]

_STAGE2_MARKERS = ("decoupling.", "aggregations.", "decoder_small.")


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: unreadable, or holding another network's weights."""


def read_checkpoint(path: str | os.PathLike, map_location: Any = None) -> Any:
    """``torch.load`` of a checkpoint file (tensors only), with errors that name the file.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: an empty, truncated or non-PyTorch file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} not found (train first, or pass the model file's path).")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): an interrupted save? Train again or restore it.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - zip, pickle and EOF errors all mean "unreadable"
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} ({size} bytes) cannot be read: it is truncated or not a PyTorch checkpoint ({detail})."
        ) from error


def _plain(network: torch.nn.Module) -> torch.nn.Module:
    for attribute in ("module", "_orig_mod"):  # DDP / DataParallel, torch.compile
        inner = getattr(network, attribute, None)
        if isinstance(inner, torch.nn.Module):
            return _plain(inner)
    return network


def _kind(keys: list[str]) -> str:
    if any(k.startswith(_STAGE2_MARKERS) for k in keys):
        return "Stage II"
    if keys and {k.split(".")[0] for k in keys} <= {"encoder", "head"}:
        return "Stage I"
    return "other"


def describe_state_dict(state: Mapping[str, Any]) -> str:
    """What a state dict holds: ``"a Stage II MedDisSeg with spatial_dims=2, in_channels=3, out_channels=1"``,
    ``"a Stage I checkpoint (MedDisSegStage1) ..."`` or ``"an unknown network (N tensors)"``."""
    keys = list(state)
    kind = _kind(keys)
    shape: list[str] = []
    first = state.get("encoder.conv1.weight")
    if isinstance(first, torch.Tensor) and first.ndim >= 4:
        shape += [f"spatial_dims={first.ndim - 2}", f"in_channels={first.shape[1]}"]
    head = [k for k in keys if k.startswith("head.") and k.endswith(".weight") and getattr(state[k], "ndim", 0) >= 3]
    if head:
        shape.append(f"out_channels={state[head[-1]].shape[0]}")
    details = f" with {', '.join(shape)}" if shape else ""
    if kind == "Stage II":
        return f"a Stage II MedDisSeg{details}"
    if kind == "Stage I":
        return f"a Stage I checkpoint (MedDisSegStage1{details})"
    return f"an unknown network ({len(keys)} tensors, e.g. {keys[:2]})"


def check_state_dict(network: torch.nn.Module, state: Any, path: str, key: str = "model") -> None:
    """Raise :class:`CheckpointError` (one line naming ``path``) unless ``state`` fits ``network`` exactly."""
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = list(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointError(f"checkpoint {path} holds no state dict of tensors under {key!r} (found {found}).")
    network = _plain(network)
    expected = network.state_dict()
    if state and all(k.startswith("module.") for k in state) and not any(k.startswith("module.") for k in expected):
        state = {k[len("module.") :]: v for k, v in state.items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or wrong):
        return
    held, wanted = _kind(list(state)), _kind(list(expected))
    hint = ""
    if held == "Stage I" and wanted == "Stage II":
        hint = (
            " This is a Stage I checkpoint: Stage II reads it as its encoder initialisation (--stage1_model_file in "
            "training); inference and evaluation need the Stage II model (models/model.pt)."
        )
    elif held == "Stage II" and wanted == "Stage I":
        hint = " This is a Stage II model, not a Stage I checkpoint."
    elif wrong:
        k = wrong[0]
        hint = (
            f" First of {len(wrong)} shape difference(s): {k} is {tuple(state[k].shape)} in the file, "
            f"{tuple(expected[k].shape)} in the network; set the network options the model was trained with."
        )
    raise CheckpointError(
        f"checkpoint {path} does not fit the {type(network).__name__} of this config "
        f"({describe_state_dict(expected)}): the file holds {describe_state_dict(state)} "
        f"({len(missing)} key(s) missing, {len(unexpected)} unexpected, {len(wrong)} of another shape).{hint}"
    )


class CheckedCheckpointLoader(CheckpointLoader):
    """``CheckpointLoader`` (same arguments) whose errors name the file: missing, empty, truncated, not PyTorch, a
    Stage I checkpoint for a Stage II network, or another network's weights (:class:`CheckpointError`)."""

    def __call__(self, engine: Engine) -> None:
        path = str(self.load_path)
        checkpoint = read_checkpoint(path, self.map_location)
        if not isinstance(checkpoint, Mapping):
            raise CheckpointError(f"checkpoint {path} holds a {type(checkpoint).__name__}, not a dict of state dicts.")
        k, _ = list(self.load_dict.items())[0]
        if len(self.load_dict) == 1 and k not in checkpoint:  # a plain state dict, as MONAI's loader takes it
            checkpoint = {k: checkpoint}
        missing_objects = [name for name in self.load_dict if name not in checkpoint]
        if missing_objects and self.strict:
            raise CheckpointError(
                f"checkpoint {path} has no {missing_objects} (it holds {sorted(checkpoint)}); it is not a checkpoint "
                "of this workflow (e.g. a best model where a resumable 'last' checkpoint is expected)."
            )
        if self.strict and self.strict_shape:
            for name, obj in self.load_dict.items():
                if isinstance(obj, torch.nn.Module):
                    check_state_dict(obj, checkpoint[name], path, name)
        if not self.strict_shape:
            for name, obj in list(self.load_dict.items()):
                if isinstance(obj, torch.nn.Module):
                    checkpoint[name] = copy_model_state(obj, checkpoint, inplace=False)[0]
                else:
                    self.load_dict.pop(name)
        prior_max_epochs = engine.state.max_epochs
        Checkpoint.load_objects(to_load=self.load_dict, checkpoint=checkpoint, strict=self.strict)
        if prior_max_epochs is not None and engine.state.epoch > prior_max_epochs:
            raise ValueError(
                f"checkpoint {path} is at epoch {engine.state.epoch}, beyond --epochs {prior_max_epochs}: raise "
                "--epochs to train on from it."
            )
        engine.state.max_epochs = prior_max_epochs
        self.logger.info(f"Restored all variables from {path}")
