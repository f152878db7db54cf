"""Back to the input grid and to a label map, a few classes at a time.

``Invertd`` then ``AsDiscreted(argmax=True)`` resamples *every* class probability to the input's full resolution
before taking the argmax: for a 512 x 512 x 130 CT and 14 classes that is 1.9 GB per copy of the probabilities, and
the inverse resampling, crop and orientation each make one. :class:`InvertArgmaxd` inverts ``channels_per_step``
classes at a time with the same ``Invertd`` (the same interpolation) and keeps a running maximum and its class index,
so only a few full-resolution channels exist at once. The label map is the same: the argmax over channels of the
same interpolated values, ties going to the lower class as ``torch.argmax`` does.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import Invertd, MapTransform, Transform

__all__ = ["InvertArgmaxd"]


class InvertArgmaxd(MapTransform):
    """``Invertd(nearest_interp=False)`` followed by ``AsDiscreted(argmax=True)``, ``channels_per_step`` channels
    at a time (see the module docstring).

    Args:
        keys: the class-probability (or logit) keys, channel first, on the preprocessed grid.
        transform: the preprocessing to invert (as for ``Invertd``).
        orig_keys: the keys whose applied operations are inverted (as for ``Invertd``).
        channels_per_step: channels inverted together (fewer: less memory, more resampling passes).
        dtype: dtype of the label map (``torch.uint8`` holds up to 256 classes).
        allow_missing_keys: as for ``MapTransform``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        transform: Transform,
        orig_keys: KeysCollection | None = None,
        channels_per_step: int = 2,
        dtype: torch.dtype = torch.uint8,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if channels_per_step < 1:
            raise ValueError(f"channels_per_step must be at least 1, got {channels_per_step}.")
        self.transform = transform
        self.orig_keys = (
            self.keys if orig_keys is None else ((orig_keys,) if isinstance(orig_keys, str) else tuple(orig_keys))
        )
        if len(self.orig_keys) == 1 and len(self.keys) > 1:
            self.orig_keys = self.orig_keys * len(self.keys)
        self.channels_per_step = channels_per_step
        self.dtype = dtype

    def _invert(self, data: Mapping[Hashable, Any], key: Hashable, orig_key: Hashable, part: torch.Tensor) -> Any:
        invert = Invertd(key, self.transform, orig_keys=orig_key, nearest_interp=False, to_tensor=True)
        return invert({orig_key: data[orig_key], key: part})[key]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, orig_key in self.key_iterator(d, self.orig_keys):
            prediction = d[key]
            channels = prediction.shape[0]
            best_value: torch.Tensor | None = None
            best_index: torch.Tensor | None = None
            meta: Any = None
            operations: Any = None
            for start in range(0, channels, self.channels_per_step):
                part = prediction[start : start + self.channels_per_step]
                inverted = self._invert(d, key, orig_key, part)
                if isinstance(inverted, MetaTensor):
                    meta, operations = inverted.meta, inverted.applied_operations
                plain = inverted.as_tensor() if isinstance(inverted, MetaTensor) else torch.as_tensor(inverted)
                values, indices = plain.max(dim=0, keepdim=True)
                del inverted, plain, part  # before the next step's inversion: one step's channels alive at a time
                indices = (indices + start).to(self.dtype)
                if best_value is None:
                    best_value, best_index = values, indices
                else:
                    better = values > best_value  # strictly: ties keep the lower class, as argmax does
                    best_value = torch.where(better, values, best_value)
                    best_index = torch.where(better, indices, best_index)
                    del better
                del values, indices
            labels = MetaTensor(best_index, meta=meta)
            if operations is not None:
                labels.applied_operations = operations
            d[key] = labels
        return d
