"""Cheap first reduction of very large 2D inputs (whole-slide tiles, 6000x6000 photographs) before the network resize.

MONAI's ``Resized`` with ``anti_aliasing=True`` smooths the full-resolution image with a Gaussian whose width grows
with the reduction factor: a 6000x6000 JPEG resized to 64^2 took minutes and several GiB. :class:`ShrinkLarge`
first averages such an image down to ``max_factor`` times the network size (``mode="area"``: each output pixel the
mean of the input pixels it covers, an anti-aliasing box filter that costs one pass), so the Gaussian then works on a
small image. Inputs within ``max_factor`` of the network size are left exactly as they are, so the usual datasets
(Kvasir-SEG at 256^2) give the same tensors as without it. The inverse (``Invertd``) brings predictions back to the
input's own size with ``inverse_mode`` (bilinear: probabilities, not blocks).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms.inverse import InvertibleTransform
from monai.transforms.spatial.array import Resize
from monai.transforms.spatial.functional import resize
from monai.transforms.transform import MapTransform
from monai.utils import TraceKeys, ensure_tuple_rep, get_equivalent_dtype

__all__ = ["ShrinkLarge", "ShrinkLarged", "shrunk_size"]


def shrunk_size(size: Sequence[int], target: Sequence[int], max_factor: float) -> tuple[int, ...]:
    """Per axis: the input size where it is at most ``max_factor`` times ``target``, else ``ceil(max_factor *
    target)``; ``max_factor <= 0`` keeps every size."""
    if max_factor <= 0:
        return tuple(int(s) for s in size)
    return tuple(int(s) if s <= max_factor * t else math.ceil(max_factor * t) for s, t in zip(size, target))


class ShrinkLarge(Resize):
    """Average an image down to at most ``max_factor`` times ``spatial_size`` per axis (see the module docstring);
    smaller axes are untouched. Invertible: the inverse resizes back to the input's size with ``inverse_mode``.

    Args:
        spatial_size: the size the next transform resizes to (the network's input size).
        max_factor: how many times ``spatial_size`` an axis may stay; ``0`` turns the transform into a no-op.
        inverse_mode: interpolation of the inverse (``"bilinear"``, ``"nearest"``, ...).
        dtype: computation dtype (the output is float).
    """

    def __init__(
        self,
        spatial_size: Sequence[int] | int,
        max_factor: float = 8.0,
        inverse_mode: str = "bilinear",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(spatial_size=spatial_size, mode="area", dtype=dtype)
        if max_factor < 0:
            raise ValueError(f"max_factor must be >= 0 (0: off), got {max_factor}.")
        self.max_factor = float(max_factor)
        self.inverse_mode = inverse_mode

    def __call__(self, img: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # type: ignore[override]
        """Shrink ``img`` (channel first) if it is large; other arguments are not taken."""
        if args or kwargs:
            raise TypeError("ShrinkLarge takes only the image.")
        size = img.peek_pending_shape() if isinstance(img, MetaTensor) else img.shape[1:]
        target = ensure_tuple_rep(self.spatial_size, len(size))
        out_size = shrunk_size(size, target, self.max_factor)
        dtype = get_equivalent_dtype(self.dtype, torch.Tensor)
        return resize(  # type: ignore[return-value]
            img, out_size, "area", None, dtype, len(size), False, None, False, self.get_transform_info()
        )

    def inverse_transform(self, data: torch.Tensor, transform) -> torch.Tensor:
        orig_size = tuple(int(s) for s in transform[TraceKeys.ORIG_SIZE])
        if tuple(data.shape[1:]) == orig_size:
            return data
        back = Resize(spatial_size=orig_size, mode=self.inverse_mode)
        with back.trace_transform(False):
            return back(data)


class ShrinkLarged(MapTransform, InvertibleTransform):
    """Dictionary version of :class:`ShrinkLarge`."""

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: Sequence[int] | int,
        max_factor: float = 8.0,
        inverse_mode: str = "bilinear",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.shrinker = ShrinkLarge(spatial_size, max_factor=max_factor, inverse_mode=inverse_mode)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.shrinker(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.shrinker.inverse(d[key])
        return d
