"""Coarse dropout with holes sized at the source image's resolution, applied after the resize to the network size."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandCoarseDropout, RandomizableTransform

__all__ = ["RandSourceCoarseDropoutd", "source_hole_size"]


def source_hole_size(size: int | Sequence[int], source_shape: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """A hole of ``size`` pixels (per axis) at ``source_shape`` brought to the grid ``shape`` (at least 1 pixel)."""
    sizes = (size,) * len(shape) if isinstance(size, int) else tuple(size)
    if len(sizes) != len(shape) or len(source_shape) != len(shape):
        raise ValueError(f"hole size {size!r}, source shape {tuple(source_shape)} and shape {tuple(shape)} disagree.")
    return tuple(max(1, int(round(s * n / m))) for s, n, m in zip(sizes, shape, source_shape))


class RandSourceCoarseDropoutd(RandomizableTransform, MapTransform):
    """MONAI's ``RandCoarseDropout`` with hole sizes given in pixels of the **source** image.

    The reference (albumentations ``CoarseDropout(max_holes=10, max_height=32, max_width=32)`` before its resize) cuts
    holes of 32^2 source pixels: about 3 % of a 622 x 529 Kvasir-SEG image, whatever the network size. Cutting 32^2
    holes after the resize to 256^2 removes 5x more. This transform runs after the resize (so the resized images stay
    cached) and converts the sizes through the ratio of the current grid to the source grid, read from the image's
    meta data (``spatial_shape``, which ``LoadImage`` records and resizing leaves alone).

    With albumentations 1.x defaults, which the reference's call relies on, every hole is exactly ``holes`` x
    ``source_size``; ``max_holes`` / ``max_source_size`` sample ranges instead (as newer albumentations does).

    Args:
        keys: image key(s); the holes of one call are the same for every key.
        holes: number of holes (the minimum if ``max_holes`` is given).
        source_size: hole size per axis in source pixels (the minimum if ``max_source_size`` is given).
        max_holes: optional maximum number of holes.
        max_source_size: optional maximum hole size in source pixels.
        fill_value: value of the dropped pixels.
        prob: probability of applying the transform.
        allow_missing_keys: as for every ``MapTransform``.

    Raises:
        ValueError: an image without ``spatial_shape`` in its meta data (not loaded by ``LoadImage``).
    """

    def __init__(
        self,
        keys: KeysCollection,
        holes: int = 10,
        source_size: int | Sequence[int] = 32,
        max_holes: int | None = None,
        max_source_size: int | Sequence[int] | None = None,
        fill_value: float = 0.0,
        prob: float = 0.3,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if holes < 1 or (max_holes is not None and max_holes < holes):
            raise ValueError(f"RandSourceCoarseDropoutd: need 1 <= holes <= max_holes, got {holes}, {max_holes}.")
        self.holes, self.max_holes = holes, max_holes
        self.source_size, self.max_source_size = source_size, max_source_size
        self.fill_value = fill_value

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        keys = list(self.key_iterator(d))
        if not keys:
            return d
        first = d[keys[0]]
        source_shape = first.meta.get("spatial_shape") if isinstance(first, MetaTensor) else None
        if source_shape is None:
            raise ValueError(
                f"RandSourceCoarseDropoutd: {keys[0]!r} has no 'spatial_shape' in its meta data; load it with "
                "LoadImaged (image_only or not) so the source size is known."
            )
        shape = tuple(first.shape[1:])
        source_shape = tuple(int(s) for s in np.asarray(source_shape).reshape(-1))
        dropout = RandCoarseDropout(
            holes=self.holes,
            spatial_size=source_hole_size(self.source_size, source_shape, shape),
            max_holes=self.max_holes,
            max_spatial_size=None
            if self.max_source_size is None
            else source_hole_size(self.max_source_size, source_shape, shape),
            fill_value=self.fill_value,
            prob=1.0,
        )
        dropout.set_random_state(state=self.R)
        dropout.randomize(shape)
        for key in keys:  # MONAI's dropout writes into the array it is given: give it a copy
            d[key] = dropout(d[key].clone() if isinstance(d[key], torch.Tensor) else d[key].copy(), randomize=False)
        return d
