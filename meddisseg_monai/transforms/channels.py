"""Channel handling of 2D photographs and their masks: RGB images and binary masks from whatever the files hold."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms.transform import MapTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

from ..utils.meta import source_name

__all__ = ["EnsureRGB", "EnsureRGBd", "BinarizeMask", "BinarizeMaskd", "source_name"]


class EnsureRGB(Transform):
    """Make a channel-first image RGB: grayscale is repeated to three channels, grayscale + alpha keeps the gray
    channel, RGBA drops the alpha channel (no compositing), RGB is unchanged.

    Raises:
        ValueError: any other channel count, naming the source file.
    """

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        data = convert_to_tensor(img, track_meta=get_track_meta())
        channels = data.shape[0]
        if channels == 3:
            return data
        if channels in (1, 2):
            return data[:1].repeat(3, *([1] * (data.ndim - 1)))
        if channels == 4:
            return data[:3]
        raise ValueError(
            f"{source_name(img)}: expected a grayscale, grayscale+alpha, RGB or RGBA image (1-4 channels), "
            f"got {channels} channels (shape {tuple(data.shape)})."
        )


class EnsureRGBd(MapTransform):
    """Dictionary version of :class:`EnsureRGB`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = EnsureRGB()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


class BinarizeMask(Transform):
    """Turn a channel-first mask read from an image file into a one-channel float mask of 0 and 1.

    A colour mask is reduced to the maximum of its colour channels (an alpha channel is ignored), then
    ``foreground = value > threshold``. Per dataset: 8-bit masks saved as JPEG (Kvasir-SEG) are noisy around 0 and
    255, so ``threshold=127`` (foreground from 128 up); instance maps (GlaS: 0 background, 1..N glands) use
    ``threshold=0``; 0/255 PNG masks (ISIC) work with either.

    Args:
        threshold: values strictly above it are foreground.
    """

    def __init__(self, threshold: float = 127) -> None:
        self.threshold = threshold

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        data = convert_to_tensor(img, track_meta=get_track_meta())
        channels = data.shape[0]
        if channels >= 3:
            data = data[:3].amax(dim=0, keepdim=True)
        elif channels == 2:
            data = data[:1]
        mask = (data > self.threshold).to(torch.float32)
        out, *_ = convert_to_dst_type(mask, data, dtype=torch.float32)
        return out


class BinarizeMaskd(MapTransform):
    """Dictionary version of :class:`BinarizeMask`."""

    def __init__(self, keys: KeysCollection, threshold: float = 127, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.binarize = BinarizeMask(threshold)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.binarize(d[key])
        return d
