"""Dictionary transforms for multi-organ CT: label remapping and input checks whose errors name the file.

Where they go in a pipeline::

    LoadImaged -> EnsureChannelFirstd -> CheckCTVolumed -> RemapOrganLabelsd -> Orientationd("RAS") -> CheckSameGridd
    -> Spacingd -> ScaleIntensityRanged -> CropForegroundd -> ...

``CheckSameGridd`` comes after ``Orientationd`` so that an image and a label stored with different axis orders of the
same grid (a DICOM series read as LPS and its segmentation written as LAS, as in the shared examples) are accepted,
while different grids are not.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from ..data.ct import label_lookup_table
from ..utils.meta import source_name

__all__ = ["SOURCE_KEY", "CheckCTVolumed", "CheckSameGridd", "RemapOrganLabelsd"]

#: the item key naming a case's label source in a datalist. Not "label_source": MONAI 1.6's ``Spacingd`` treats every
#: key that starts with "<key>_" (here "label_") as that key's meta dict and fails on a string.
SOURCE_KEY = "source_labels"


class CheckCTVolumed(MapTransform):
    """Reject what is not one finite 3D volume, with an error naming the file.

    Expects channel-first data (after ``EnsureChannelFirstd``): a 3D volume is ``(1, X, Y, Z)``. A 2D image gives
    ``(1, X, Y)``, a 4D series (time, echoes, ...) gives ``(T, X, Y, Z)``; both are rejected, as are NaN or infinite
    voxels.

    Args:
        keys: keys of the volumes to check (image and label).
        spatial_dims: expected spatial dimensions (3).
        allow_missing_keys: do not fail when a key is absent (inference has no label).

    Raises:
        ValueError: naming the file, the shape found and what is expected.
    """

    def __init__(self, keys: KeysCollection, spatial_dims: int = 3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.spatial_dims = spatial_dims

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            volume = d[key]
            shape = tuple(volume.shape)
            source = source_name(d, key)
            if len(shape) != self.spatial_dims + 1:
                raise ValueError(
                    f"{source}: expected one {self.spatial_dims}D volume, got a {len(shape) - 1}D image of spatial "
                    f"shape {list(shape[1:])} ({key!r})."
                )
            if shape[0] != 1:
                raise ValueError(
                    f"{source}: expected one {self.spatial_dims}D volume, got a {self.spatial_dims + 1}D image "
                    f"({shape[0]} volumes of shape {list(shape[1:])}); pass a single volume ({key!r})."
                )
            values = torch.as_tensor(volume)
            if values.is_floating_point():
                bad = ~torch.isfinite(values)
                if bool(bad.any()):
                    raise ValueError(
                        f"{source}: {int(bad.sum())} voxel(s) are NaN or infinite ({key!r}); "
                        "repair or mask them before segmentation."
                    )
        return d


class CheckSameGridd(MapTransform):
    """Check that an image and its label lie on the same voxel grid (shape and affine), naming both files if not.

    Use after ``Orientationd`` so that only the grid, not the storage order of its axes, has to agree.

    Args:
        keys: the reference key first (the image), then the keys that must match it (the label).
        atol: tolerance on the affine entries (millimetres), for rounding in file headers.
        allow_missing_keys: skip absent keys (inference has no label).
    """

    def __init__(self, keys: KeysCollection = ("image", "label"), atol: float = 1e-3, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.atol = atol

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        present = list(self.key_iterator(d))
        if len(present) < 2:
            return d
        reference, others = present[0], present[1:]
        ref_shape, ref_affine = tuple(d[reference].shape[1:]), _affine(d[reference])
        for key in others:
            shape, affine = tuple(d[key].shape[1:]), _affine(d[key])
            problem = None
            if shape != ref_shape:
                problem = f"spatial shape {list(shape)} vs {list(ref_shape)}"
            elif ref_affine is not None and affine is not None and not np.allclose(ref_affine, affine, atol=self.atol):
                problem = (
                    "affines differ (not the same voxel grid in space):\n"
                    f"{np.array2string(affine, precision=4)}\nvs\n{np.array2string(ref_affine, precision=4)}"
                )
            if problem:
                raise ValueError(
                    f"{source_name(d, key)} ({key!r}) does not match {source_name(d, reference)} "
                    f"({reference!r}): {problem}."
                )
        return d


def _affine(volume) -> np.ndarray | None:
    affine = getattr(volume, "affine", None)
    return None if affine is None else np.asarray(torch.as_tensor(affine).detach().cpu(), dtype=np.float64)


class RemapOrganLabelsd(MapTransform):
    """Renumber a label map from its source's ids to a label set's classes (0 background, 1..N organs).

    Structures of the source that are not organs of the label set become background (for TotalSegmentator data:
    vertebrae, ribs, lungs, muscles, ...). Ids that the source does not define, negative or fractional values are
    an error naming the file, never silently background.

    The source is chosen per item when the item has a ``source_key`` entry (a datalist may mix datasets), otherwise
    ``source``.

    Args:
        keys: label keys.
        label_set: ``"synapse8"`` or ``"btcv13"`` (see ``meddisseg_monai.data.ct.LABEL_SETS``).
        source: the default label source: a key of ``LABEL_SOURCES`` (``"totalsegmentator_v2"``, ``"btcv13"``,
            ``"synapse8"``) or a dict ``{"ids": {organ: id}, "max_id": int}``. Default: the label set itself (labels
            already numbered as the network's classes, as MONAI Label's are).
        source_key: item key holding a per-case source name.
        allow_missing_keys: skip absent keys.

    Raises:
        ValueError: unknown label set or source; label values outside the source's ids (naming the file).
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_set: str,
        source: str | Mapping | None = None,
        source_key: str | None = SOURCE_KEY,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_set = label_set
        self.source = label_set if source is None or source == "" else source
        self.source_key = source_key
        self._tables: dict[str, np.ndarray] = {}
        label_lookup_table(label_set, self.source)  # fail early on a bad configuration

    def _table(self, source: str | Mapping) -> torch.Tensor:
        name = source if isinstance(source, str) else repr(sorted(source.items()))
        if name not in self._tables:
            self._tables[name] = label_lookup_table(self.label_set, source)
        return torch.as_tensor(self._tables[name])

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        source = d.get(self.source_key) if self.source_key else None
        source = self.source if source in (None, "") else source
        table = self._table(source)
        for key in self.key_iterator(d):
            label = d[key]
            values = torch.as_tensor(label)
            ids = values.round().long() if values.is_floating_point() else values.long()
            invalid = (ids < 0) | (ids >= table.numel())
            if values.is_floating_point():
                invalid |= ~torch.isfinite(values) | (values != values.round())
            if bool(invalid.any()):
                found = torch.unique(values[invalid])[:10].tolist()
                name = source if isinstance(source, str) else "custom"
                raise ValueError(
                    f"{source_name(d, key)}: label values {found} are outside the ids of label source {name!r} "
                    f"(integers 0..{table.numel() - 1}); is the label file of another dataset? (set the case's "
                    "'source_labels' or the bundle's label_source)"
                )
            mapped = table.to(ids.device)[ids]
            if isinstance(label, torch.Tensor):
                result = label.clone()
                result.copy_(mapped.to(label.dtype))
            else:
                result = mapped.numpy().astype(np.asarray(label).dtype)
            d[key] = result
        return d
