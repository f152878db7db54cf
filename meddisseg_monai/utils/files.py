"""Output folders checked before any work: a run that cannot write its results stops at once, naming the folder."""

from __future__ import annotations

import os
import tempfile

__all__ = ["OutputFolderError", "check_writable"]


class OutputFolderError(PermissionError):
    """An output folder cannot be created or written to."""


def check_writable(*folders: str | os.PathLike | None) -> None:
    """Create every folder (and its parents) and write a probe file into it; ``None`` entries are skipped.

    Raises:
        OutputFolderError: a folder that cannot be created (a file of that name, no permission) or written to.
    """
    for folder in folders:
        if folder is None or str(folder) == "":
            continue
        folder = os.path.abspath(os.fspath(folder))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise OutputFolderError(f"output folder {folder} is a file, not a folder: choose another output path.")
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise OutputFolderError(
                f"output folder {folder} is not writable ({reason}): choose another output path (--output_dir) or "
                "fix its permissions. Nothing was run."
            ) from error
