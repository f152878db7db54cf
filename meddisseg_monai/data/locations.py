"""Where a bundle finds its data when the user does not say: only inside a meddisseg-monai source checkout.

A bundle copied elsewhere (as MONAI Label and ``monai.bundle download`` do) has no default dataset folder or
datalist: the user passes ``--dataset_dir`` and ``--datalist``, and a workflow that needs one that was not given stops
with :class:`MissingDataOptionError` naming the option. Inside a checkout (``<repository>/bundle/<name>``) the
defaults are the repository's ``data_lists/`` and ``../shared/data`` beside it, so the documented commands run as
they are. ``$MEDDISSEG_DATA_ROOT`` names the folder that holds the dataset folders, anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..utils.config_values import optional

__all__ = [
    "DATA_ROOT_ENV",
    "MissingDataOptionError",
    "source_checkout",
    "default_dataset_dir",
    "default_datalist",
    "required_path",
    "required_data_paths",
]

#: environment variable naming the folder that holds the dataset folders (``Kvasir-SEG/``, ``GlaS/``, ...)
DATA_ROOT_ENV = "MEDDISSEG_DATA_ROOT"


class MissingDataOptionError(ValueError):
    """A workflow needs a data path that was neither given nor has a default where the bundle is."""


def source_checkout(bundle_root: str | os.PathLike) -> Path | None:
    """The meddisseg-monai repository that holds ``bundle_root`` (as ``<repository>/bundle/<name>``), else ``None``."""
    bundle = Path(bundle_root).resolve()
    repository = bundle.parent.parent
    if (
        bundle.parent.name == "bundle"
        and (repository / "meddisseg_monai").is_dir()
        and (repository / "setup.cfg").is_file()
    ):
        return repository
    return None


def default_dataset_dir(bundle_root: str | os.PathLike, folder: str) -> str | None:
    """``$MEDDISSEG_DATA_ROOT/<folder>``; else ``<repository>/../shared/data/<folder>`` for a bundle inside a source
    checkout (whether or not it is there: the datalist reader then names the folder it looked for); else ``None``
    (the user must pass ``--dataset_dir``)."""
    root = os.environ.get(DATA_ROOT_ENV)
    if root:
        return os.path.join(root, folder)
    repository = source_checkout(bundle_root)
    if repository is None:
        return None
    return str(repository.parent / "shared" / "data" / folder)


def default_datalist(bundle_root: str | os.PathLike, file_name: str) -> str | None:
    """``<repository>/data_lists/<file_name>`` for a bundle inside a source checkout, else ``None`` (the user must pass
    ``--datalist``)."""
    repository = source_checkout(bundle_root)
    if repository is None:
        return None
    candidate = repository / "data_lists" / file_name
    return str(candidate) if candidate.is_file() else None


def required_path(value: str | os.PathLike | None, option: str, what: str) -> str:
    """``value`` as a string, or :class:`MissingDataOptionError` naming ``--<option>`` when it is not given.

    Args:
        value: the configured path (``None`` or ``""`` when neither the user nor a default gave one).
        option: the bundle option that sets it (``dataset_dir``, ``datalist``).
        what: what the path is, for the message.
    """
    if optional(value) is None:
        raise MissingDataOptionError(
            f"no {what} given: pass --{option} PATH. (A default exists only for a bundle inside a meddisseg-monai "
            f"source checkout, or with ${DATA_ROOT_ENV} set for dataset folders.)"
        )
    return str(value)


def required_data_paths(datalist: str | os.PathLike | None, dataset_dir: str | os.PathLike | None) -> tuple[str, str]:
    """``(datalist, dataset_dir)`` as strings, or :class:`MissingDataOptionError` naming the one not given."""
    datalist = required_path(datalist, "datalist", "datalist")
    return datalist, required_path(dataset_dir, "dataset_dir", f"dataset folder for the datalist {datalist}")
