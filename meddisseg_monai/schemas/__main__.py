"""Prints the path of the bundle metadata schema (``python -m meddisseg_monai.schemas``)."""

from meddisseg_monai.schemas import METADATA_SCHEMA

print(METADATA_SCHEMA)
