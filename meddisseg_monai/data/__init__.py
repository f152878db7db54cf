"""Datasets and datalists: the 2D dataset registry, datalist reading, checking and building; CT label sets and cases."""

from __future__ import annotations

from .builder import carve_validation, pair_images_and_masks, relative_entry
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
from .datalist import (
    IMAGE_EXTENSIONS,
    SPLITS,
    InferenceInputs,
    inference_datalist,
    list_images,
    load_datalist,
    load_split,
    read_datalist_json,
    write_datalist,
)
from .locations import (
    DATA_ROOT_ENV,
    MissingDataOptionError,
    default_datalist,
    default_dataset_dir,
    required_path,
    source_checkout,
)
from .official import OFFICIAL_BUILDERS, build_official_datalists
from .output_names import OutputNames, input_stem, unique_output_names
from .registry import DATASETS, DatasetSpec, get_dataset
from .skipping import SKIPPED_PATH_KEY, SKIPPED_REASON_KEY, SkipFailedInputs, SkippingDataset
from .validation import (
    CONVERTED_IMAGE_MODES,
    IMAGE_MODES,
    MASK_MODES,
    DatalistError,
    DatalistReport,
    check_items,
    check_training_batches,
    check_unique_names,
)

__all__ = [
    "CONVERTED_IMAGE_MODES",
    "DATASETS",
    "DATA_ROOT_ENV",
    "DatalistError",
    "DatalistReport",
    "DatasetSpec",
    "IMAGE_EXTENSIONS",
    "IMAGE_MODES",
    "InferenceInputs",
    "LABEL_SETS",
    "LABEL_SOURCES",
    "MASK_MODES",
    "MissingDataOptionError",
    "OFFICIAL_BUILDERS",
    "OutputNames",
    "SKIPPED_PATH_KEY",
    "SKIPPED_REASON_KEY",
    "SPLITS",
    "SkipFailedInputs",
    "SkippingDataset",
    "build_official_datalists",
    "carve_validation",
    "channel_def",
    "check_items",
    "check_training_batches",
    "check_unique_names",
    "default_datalist",
    "default_dataset_dir",
    "get_dataset",
    "inference_datalist",
    "input_stem",
    "label_lookup_table",
    "list_images",
    "load_ct_cases",
    "load_datalist",
    "load_split",
    "num_classes",
    "organ_names",
    "pair_images_and_masks",
    "read_datalist_json",
    "relative_entry",
    "required_path",
    "resolve_ct_inputs",
    "source_checkout",
    "unique_output_names",
    "write_datalist",
]
