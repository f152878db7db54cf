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
    read_datalist_json,
    write_datalist,
)
from .output_names import OutputNames, input_stem, unique_output_names
from .official import OFFICIAL_BUILDERS, build_official_datalists
from .skipping import SKIPPED_PATH_KEY, SKIPPED_REASON_KEY, SkipFailedInputs, SkippingDataset
from .locations import (
    DATA_ROOT_ENV,
    MissingDataOptionError,
    default_datalist,
    default_dataset_dir,
    required_path,
    source_checkout,
)
from .registry import DATASETS, DatasetSpec, get_dataset
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
    "LABEL_SETS",
    "LABEL_SOURCES",
    "channel_def",
    "label_lookup_table",
    "load_ct_cases",
    "num_classes",
    "organ_names",
    "resolve_ct_inputs",
    "CONVERTED_IMAGE_MODES",
    "DATASETS",
    "DATA_ROOT_ENV",
    "DatalistError",
    "DatalistReport",
    "DatasetSpec",
    "IMAGE_EXTENSIONS",
    "IMAGE_MODES",
    "InferenceInputs",
    "MASK_MODES",
    "OFFICIAL_BUILDERS",
    "OutputNames",
    "SKIPPED_PATH_KEY",
    "SKIPPED_REASON_KEY",
    "SPLITS",
    "SkipFailedInputs",
    "SkippingDataset",
    "build_official_datalists",
    "carve_validation",
    "check_items",
    "check_training_batches",
    "check_unique_names",
    "default_dataset_dir",
    "default_datalist",
    "MissingDataOptionError",
    "required_path",
    "source_checkout",
    "get_dataset",
    "inference_datalist",
    "input_stem",
    "list_images",
    "load_datalist",
    "pair_images_and_masks",
    "read_datalist_json",
    "relative_entry",
    "unique_output_names",
    "write_datalist",
]
