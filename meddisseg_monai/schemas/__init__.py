"""The bundle metadata schema both bundles are checked against, shipped with the package (no download).

``python -m meddisseg_monai.schemas`` prints its path, for MONAI's own check::

    python -m monai.bundle verify_metadata --meta_file configs/metadata.json \\
        --filepath "$(python -m meddisseg_monai.schemas)"
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["METADATA_SCHEMA"]

#: the JSON schema of ``configs/metadata.json`` for both bundles (the model zoo's fields that they use)
METADATA_SCHEMA = Path(__file__).resolve().parent / "bundle_metadata.json"
