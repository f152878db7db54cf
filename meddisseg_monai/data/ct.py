"""Multi-organ CT: the label sets (Synapse-8, BTCV-13), the label conventions of source data, and bundle inputs.

A *label set* is what the network predicts: class 0 is background and classes 1..N are organs in a fixed order
(``LABEL_SETS``). A *label source* is how a dataset's label files number their structures (``LABEL_SOURCES``): the
TotalSegmentator v2 ``total`` task (117 structures; the shared example volumes), raw BTCV / Synapse (13 organs), or
TransUNet's preprocessed Synapse (8 organs). :func:`label_lookup_table` maps a source's ids to a label set's ids;
structures of the source that are not organs of the label set become background, as for the benchmarks.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence

import numpy as np

from .datalist import load_split
from .locations import MissingDataOptionError, required_data_paths

__all__ = [
    "LABEL_SETS",
    "LABEL_SOURCES",
    "NIFTI_SUFFIXES",
    "channel_def",
    "label_lookup_table",
    "load_ct_cases",
    "num_classes",
    "organ_names",
    "resolve_ct_inputs",
]

#: organs of each label set, in class order (class i + 1 is organ i; 0 is background)
LABEL_SETS: dict[str, tuple[str, ...]] = {
    # TransUNet's Synapse protocol (its preprocessed data numbers the organs in this order)
    "synapse8": ("aorta", "gallbladder", "kidney_left", "kidney_right", "liver", "pancreas", "spleen", "stomach"),
    # the 13 organs of the BTCV / Synapse multi-organ challenge, in its label order
    "btcv13": (
        "spleen",
        "kidney_right",
        "kidney_left",
        "gallbladder",
        "esophagus",
        "liver",
        "stomach",
        "aorta",
        "inferior_vena_cava",
        "portal_vein_and_splenic_vein",
        "pancreas",
        "adrenal_gland_right",
        "adrenal_gland_left",
    ),
}

#: how label files of a source number the organs: ``{"ids": {organ: id}, "max_id": largest valid id}``
LABEL_SOURCES: dict[str, dict] = {
    # TotalSegmentator v2, task "total" (ids from ../shared/data/CT-TotalSegmentator-examples/labels.json)
    "totalsegmentator_v2": {
        "ids": {
            "spleen": 1,
            "kidney_right": 2,
            "kidney_left": 3,
            "gallbladder": 4,
            "liver": 5,
            "stomach": 6,
            "pancreas": 7,
            "adrenal_gland_right": 8,
            "adrenal_gland_left": 9,
            "esophagus": 15,
            "aorta": 52,
            "inferior_vena_cava": 63,
            "portal_vein_and_splenic_vein": 64,
        },
        "max_id": 117,
    },
    # label files already numbered as a label set (raw BTCV / Synapse data is "btcv13"; MONAI Label's labels are
    # numbered as the bundle's own label set)
    **{
        name: {"ids": {organ: index + 1 for index, organ in enumerate(organs)}, "max_id": len(organs)}
        for name, organs in LABEL_SETS.items()
    },
}

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _check_label_set(label_set: str) -> tuple[str, ...]:
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label_set {label_set!r}; choose one of {sorted(LABEL_SETS)}.")
    return LABEL_SETS[label_set]


def organ_names(label_set: str) -> tuple[str, ...]:
    """The organs of ``label_set`` in class order (class 1 first)."""
    return _check_label_set(label_set)


def num_classes(label_set: str) -> int:
    """Output channels of a network for ``label_set``: its organs plus background."""
    return len(_check_label_set(label_set)) + 1


def channel_def(label_set: str) -> dict[str, str]:
    """``{"0": "background", "1": organ, ...}``, the ``channel_def`` of the bundle metadata's ``outputs.pred``."""
    return {"0": "background", **{str(i + 1): organ for i, organ in enumerate(_check_label_set(label_set))}}


def label_lookup_table(label_set: str, source: str | Mapping) -> np.ndarray:
    """Lookup table ``t`` with ``t[source_id] = label_set_id`` for every valid id ``0..max_id`` of ``source``.

    Args:
        label_set: a key of ``LABEL_SETS``.
        source: a key of ``LABEL_SOURCES`` or a dict ``{"ids": {organ: id}, "max_id": int}`` for other data
            (``max_id`` defaults to the largest organ id).

    Raises:
        ValueError: unknown label set or source, or a source that does not number every organ of the label set.
    """
    organs = _check_label_set(label_set)
    if isinstance(source, str):
        if source not in LABEL_SOURCES:
            raise ValueError(f"unknown label source {source!r}; choose one of {sorted(LABEL_SOURCES)} or give a dict.")
        source = LABEL_SOURCES[source]
    ids = dict(source.get("ids", {}))
    missing = [organ for organ in organs if organ not in ids]
    if missing:
        raise ValueError(f"the label source does not number the organs {missing} of label set {label_set!r}.")
    max_id = int(source.get("max_id", max(ids.values())))
    table = np.zeros(max_id + 1, dtype=np.int64)
    for index, organ in enumerate(organs):
        table[int(ids[organ])] = index + 1
    return table


def load_ct_cases(datalist: str | os.PathLike | None, dataset_dir: str | os.PathLike | None, key: str) -> list[dict]:
    """The cases under ``key`` (``"training"``, ``"validation"``, ``"test"``) of a Decathlon-style datalist, with
    ``image`` and ``label`` joined to ``dataset_dir`` (absolute paths stay) and every other field (e.g. a per-case
    ``source_labels``) kept as it is: ``monai.data.load_decathlon_datalist``, through
    :func:`~meddisseg_monai.data.datalist.load_split` for errors that name the file.

    Raises:
        MissingDataOptionError: ``datalist`` or ``dataset_dir`` not given (``None``).
        FileNotFoundError: no such datalist.
        DatalistError (a ``ValueError``): not valid JSON, or no list under ``key``.
    """
    datalist, dataset_dir = required_data_paths(datalist, dataset_dir)
    return load_split(datalist, key, dataset_dir)


def _is_nifti(path: str) -> bool:
    return path.lower().endswith(NIFTI_SUFFIXES)


def resolve_ct_inputs(
    input: str | os.PathLike | Sequence | None,
    datalist: str | os.PathLike | None = None,
    dataset_dir: str | os.PathLike | None = None,
    key: str = "test",
) -> list[dict]:
    """The volumes an inference run reads, as ``[{"image": path}, ...]``.

    ``input`` is one NIfTI file, one DICOM series folder, a folder of NIfTI files (each one a volume), or a list of
    those; relative paths are taken from the working directory. Empty (``None`` or ``""``): the ``key`` cases of
    ``datalist`` (relative to ``dataset_dir``).

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: no input at all.
    """
    if input is None or (isinstance(input, str) and not input.strip()):
        if datalist is None:
            raise MissingDataOptionError(
                "nothing to segment: pass --input (a volume, a DICOM folder or a folder of volumes), or --datalist PATH"
                " with --dataset_dir PATH."
            )
        return [{"image": case["image"]} for case in load_ct_cases(datalist, dataset_dir, key)]
    paths = [input] if isinstance(input, (str, os.PathLike)) else list(input)
    images = []
    for path in map(str, paths):
        if not os.path.exists(path):
            raise FileNotFoundError(f"inference input not found: {path}")
        if os.path.isdir(path):
            volumes = sorted(p for p in glob.glob(os.path.join(path, "*")) if _is_nifti(p))
            images.extend(volumes if volumes else [path])  # no NIfTI files inside: one DICOM series
        else:
            images.append(path)
    return [{"image": image} for image in images]
