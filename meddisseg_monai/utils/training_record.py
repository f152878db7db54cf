"""The training settings recorded beside a model file, so that inference uses the network size it was trained at.

A best model ``models/model.pt`` is a plain state dict (what MONAI bundles and MONAI Label load). The settings that
shaped it but are not in its tensors (above all the image size) go into ``models/model.json`` beside it, written by
:class:`~meddisseg_monai.handlers.ResumableCheckpointSaver` each time it saves. Inference and evaluation read the
image size from there unless ``--image_size`` is given, and warn when a given size differs from it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["check_image_size", "read_training_record", "record_path", "trained_image_size", "write_training_record"]

logger = logging.getLogger(__name__)


def record_path(model_file: str | os.PathLike) -> str:
    """``models/model.pt`` -> ``models/model.json``."""
    return os.path.splitext(os.fspath(model_file))[0] + ".json"


def write_training_record(model_file: str | os.PathLike, record: Mapping[str, Any]) -> str:
    """Write ``record`` (JSON values) beside ``model_file``; return the path."""
    path = record_path(model_file)
    temporary = path + ".tmp"
    with open(temporary, "w") as stream:
        json.dump(dict(record), stream, indent=2, default=str)
        stream.write("\n")
    os.replace(temporary, path)
    return path


def read_training_record(model_file: str | os.PathLike) -> dict:
    """The record beside ``model_file`` (``{}`` when there is none; a warning naming it when it is unreadable)."""
    path = record_path(model_file)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as stream:
            record = json.load(stream)
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("training record %s cannot be read (%s); using the configured settings.", path, error)
        return {}
    return record if isinstance(record, dict) else {}


def _size(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return int(value)


def trained_image_size(model_file: str | os.PathLike, default: Any) -> Any:
    """The ``image_size`` recorded with ``model_file``, else ``default``."""
    recorded = read_training_record(model_file).get("image_size")
    return _size(recorded) if recorded is not None else default


def check_image_size(model_file: str | os.PathLike, image_size: Any) -> bool:
    """Warn when ``image_size`` differs from the size ``model_file`` was trained at; return whether they agree (or
    nothing is recorded)."""
    recorded = read_training_record(model_file).get("image_size")
    if recorded is None or _size(recorded) == _size(image_size):
        return True
    logger.warning(
        "image_size %s differs from the size %s the model %s was trained at (recorded in %s): results will be worse "
        "unless that is intended; drop --image_size to use the trained size.",
        image_size,
        recorded,
        model_file,
        record_path(model_file),
    )
    return False
