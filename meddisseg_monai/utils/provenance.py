"""What produced a metrics file: the provenance record written beside it.

:func:`provenance` gathers the run's config (the config files merged with the command-line overrides, as
``monai.bundle run`` merges them), the package, MONAI, PyTorch and bundle versions (``configs/metadata.json``
``"version"``), the checkpoint's and the datalist's sha256, the device and the precision the inferer actually used
(the ``autocast`` setting resolved on that device: ``"auto"`` is bf16 only where bf16 is native). Both bundles' report
writer (:class:`~meddisseg_monai.handlers.SegmentationReportWriter`) writes it as ``provenance.json``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import torch

from .command_line import _config_files, is_bundle_command_line
from .precision import resolve_autocast

__all__ = ["PROVENANCE_FILE", "bundle_version", "command_line_config", "provenance", "sha256", "write_provenance"]

PROVENANCE_FILE = "provenance.json"


def sha256(path: str | os.PathLike | None) -> str | None:
    """The hex sha256 of a file, ``None`` for no path.

    Raises:
        FileNotFoundError: ``path`` names no file (the message names it).
    """
    if path is None:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file, so its sha256 cannot be recorded.")
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_version(bundle_root: str | os.PathLike) -> str | None:
    """``"version"`` of ``<bundle_root>/configs/metadata.json`` (``None`` when the bundle has no metadata file)."""
    path = os.path.join(bundle_root, "configs", "metadata.json")
    if not os.path.isfile(path):
        return None
    with open(path) as stream:
        return json.load(stream).get("version")


def _override_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def command_line_config(argv: Sequence[str] | None = None) -> dict | None:
    """The config a ``python -m monai.bundle run`` command line runs: its config files merged in order, then its
    ``--id value`` overrides (unresolved: ``@`` references and ``$`` expressions as written). ``None`` outside that
    command line (MONAI Label, ``ConfigWorkflow`` in Python: their overrides are not on the command line)."""
    argv = list(sys.argv if argv is None else argv)
    if not is_bundle_command_line(argv):
        return None
    from monai.bundle import ConfigParser

    files = _config_files(argv)
    parser = ConfigParser(ConfigParser.load_config_files(files) if files else {})
    tokens = argv[2:] if len(argv) > 1 and argv[1] == "run" else argv[1:]
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("--") and "=" in token:
            name, value = token[2:].split("=", 1)
        elif token.startswith("--") and index + 1 < len(tokens) and not tokens[index + 1].startswith("--"):
            name, value = token[2:], tokens[index + 1]
            index += 1
        else:
            index += 1
            continue
        index += 1
        if name.replace("-", "_") not in ("config_file", "meta_file", "logging_file", "args_file"):
            overrides[name.replace("::", "#")] = _override_value(value)
    parser.update(overrides)
    return {"config_files": files, "overrides": overrides, "config": parser.get()}


def provenance(
    bundle_root: str | os.PathLike,
    checkpoint: str | os.PathLike | None,
    datalist: str | os.PathLike | None,
    device: torch.device | str,
    autocast: str | None,
    config: Mapping | None = None,
) -> dict:
    """The provenance record of an evaluation (see the module docstring).

    Args:
        bundle_root: the bundle folder (its ``configs/metadata.json`` gives the bundle version).
        checkpoint: the weights evaluated.
        datalist: the datalist whose cases were evaluated.
        device: the device the network ran on.
        autocast: the run's ``autocast`` setting (recorded as given and as resolved on ``device``).
        config: the run's config (default: :func:`command_line_config`).
    """
    precision = resolve_autocast(autocast, device)
    run = dict(config) if config is not None else command_line_config()
    return {
        "config": run,
        "versions": {
            "meddisseg-monai": _package_version("meddisseg-monai"),
            "monai": _package_version("monai"),
            "torch": torch.__version__,
            "bundle": bundle_version(bundle_root),
        },
        "bundle_root": os.path.abspath(bundle_root),
        "checkpoint": {"path": os.path.abspath(checkpoint) if checkpoint else None, "sha256": sha256(checkpoint)},
        "datalist": {"path": os.path.abspath(datalist) if datalist else None, "sha256": sha256(datalist)},
        "device": str(device),
        "precision": {"autocast": None if autocast is None else str(autocast), "used": precision or "fp32"},
    }


def write_provenance(folder: str | os.PathLike, record: Mapping) -> str:
    """Write ``record`` as ``<folder>/provenance.json`` and return the path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, PROVENANCE_FILE)
    with open(path, "w") as stream:
        json.dump(record, stream, indent=1, default=str)
        stream.write("\n")
    return path


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
