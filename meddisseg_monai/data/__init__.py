"""Data lists, label sets and inputs of the Med-DisSeg bundles."""

from __future__ import annotations

from .ct import (
    LABEL_SETS,
    LABEL_SOURCES,
    channel_def,
    label_lookup_table,
    load_ct_cases,
    num_classes,
    organ_names,
    resolve_ct_inputs,
)

__all__ = [
    "LABEL_SETS",
    "LABEL_SOURCES",
    "channel_def",
    "label_lookup_table",
    "load_ct_cases",
    "num_classes",
    "organ_names",
    "resolve_ct_inputs",
]
