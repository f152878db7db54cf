"""Photometric augmentations of RGB images for Stage I's strongly augmented view (colour jitter, random grayscale).

They follow torchvision's ``ColorJitter`` / ``RandomGrayscale`` semantics on channel-first RGB tensors in ``[0, 1]``,
written as MONAI randomizable transforms so they run in the data loader's workers with MONAI's seeding.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms.transform import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor

from .channels import source_name

__all__ = [
    "RandColorJitter",
    "RandColorJitterd",
    "RandGrayscale",
    "RandGrayscaled",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "hsv_to_rgb",
]

# ITU-R 601-2 luma, as PIL and torchvision
_LUMA = (0.299, 0.587, 0.114)


def _check_rgb(img: torch.Tensor, original: NdarrayOrTensor) -> None:
    if img.shape[0] != 3:
        raise ValueError(f"{source_name(original)}: expected a channel-first RGB image, got shape {tuple(img.shape)}.")


def rgb_to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """``(3, *spatial) -> (1, *spatial)`` luma."""
    r, g, b = img[0:1], img[1:2], img[2:3]
    return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """Channel-first RGB in ``[0, 1]`` to HSV, every channel in ``[0, 1]`` (hue as a fraction of a turn)."""
    r, g, b = img[0], img[1], img[2]
    maxc, _ = img.max(dim=0)
    minc, _ = img.min(dim=0)
    delta = maxc - minc
    saturation = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    safe = delta.clamp_min(1e-12)
    hue_r = ((g - b) / safe) % 6
    hue_g = (b - r) / safe + 2
    hue_b = (r - g) / safe + 4
    hue = torch.where(maxc == r, hue_r, torch.where(maxc == g, hue_g, hue_b))
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue)) % 1.0
    return torch.stack([hue, saturation, maxc])


def hsv_to_rgb(img: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = img[0], img[1], img[2]
    sector = torch.floor(h * 6.0)
    f = h * 6.0 - sector
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    sector = sector.long() % 6
    candidates = (
        torch.stack([v, q, p, p, t, v]),
        torch.stack([t, v, v, q, p, p]),
        torch.stack([p, p, t, v, v, q]),
    )
    index = sector.unsqueeze(0)
    return torch.stack([c.gather(0, index).squeeze(0) for c in candidates])


def _factor_range(value: float | Sequence[float], name: str, center: float, bound: tuple[float, float]):
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}.")
        low, high = center - value, center + value
    else:
        low, high = (float(v) for v in value)
    low, high = max(low, bound[0]), min(high, bound[1])
    if low > high:
        raise ValueError(f"{name} range is empty: {value!r}.")
    return low, high


class RandColorJitter(RandomizableTransform):
    """Randomly change brightness, contrast, saturation and hue of a channel-first RGB image in ``[0, 1]``, in a random
    order (torchvision ``ColorJitter`` semantics; Med-DisSeg's Stage I uses 0.3, 0.3, 0.3, 0.1).

    Args:
        brightness: factor drawn from ``[1 - b, 1 + b]`` (or a ``(min, max)`` pair); the image is multiplied by it.
        contrast: factor ``c``; the image is blended with its mean luma: ``c * x + (1 - c) * mean``.
        saturation: factor ``s``; the image is blended with its luma: ``s * x + (1 - s) * gray``.
        hue: shift drawn from ``[-h, h]`` (``h <= 0.5``), added to the hue (a fraction of a turn).
        prob: probability of applying the transform.

    Raises:
        ValueError: negative factors, ``hue > 0.5``, or an input that is not 3-channel.
    """

    def __init__(
        self,
        brightness: float | Sequence[float] = 0.3,
        contrast: float | Sequence[float] = 0.3,
        saturation: float | Sequence[float] = 0.3,
        hue: float | Sequence[float] = 0.1,
        prob: float = 1.0,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.brightness = _factor_range(brightness, "brightness", 1.0, (0.0, float("inf")))
        self.contrast = _factor_range(contrast, "contrast", 1.0, (0.0, float("inf")))
        self.saturation = _factor_range(saturation, "saturation", 1.0, (0.0, float("inf")))
        if isinstance(hue, (int, float)) and hue > 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}.")
        self.hue = _factor_range(hue, "hue", 0.0, (-0.5, 0.5))
        self.order: list[int] = [0, 1, 2, 3]
        self.factors: list[float] = [1.0, 1.0, 1.0, 0.0]

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        self.order = [int(i) for i in self.R.permutation(4)]
        self.factors = [float(self.R.uniform(*r)) for r in (self.brightness, self.contrast, self.saturation, self.hue)]

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        if randomize:
            self.randomize()
        data = convert_to_tensor(img, track_meta=get_track_meta())
        if not self._do_transform:
            return data
        _check_rgb(data, img)
        out = data.as_tensor() if hasattr(data, "as_tensor") else data
        out = out.float()
        brightness, contrast, saturation, hue = self.factors
        for op in self.order:
            if op == 0:
                out = (out * brightness).clamp(0, 1)
            elif op == 1:
                mean = rgb_to_grayscale(out).mean()
                out = (contrast * out + (1 - contrast) * mean).clamp(0, 1)
            elif op == 2:
                out = (saturation * out + (1 - saturation) * rgb_to_grayscale(out)).clamp(0, 1)
            elif hue != 0.0:
                hsv = rgb_to_hsv(out)
                hsv = torch.stack([(hsv[0] + hue) % 1.0, hsv[1], hsv[2]])
                out = hsv_to_rgb(hsv).clamp(0, 1)
        result, *_ = convert_to_dst_type(out, data, dtype=data.dtype)
        return result


class RandGrayscale(RandomizableTransform):
    """With probability ``prob``, replace a channel-first RGB image by its luma repeated on three channels
    (torchvision ``RandomGrayscale``; Med-DisSeg's Stage I uses ``prob=0.5``)."""

    def __init__(self, prob: float = 0.5) -> None:
        RandomizableTransform.__init__(self, prob)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        if randomize:
            self.randomize(None)
        data = convert_to_tensor(img, track_meta=get_track_meta())
        if not self._do_transform:
            return data
        _check_rgb(data, img)
        gray = rgb_to_grayscale(data).repeat(3, *([1] * (data.ndim - 1)))
        result, *_ = convert_to_dst_type(gray, data, dtype=data.dtype)
        return result


class _SameDrawd(RandomizableTransform, MapTransform):
    """Apply a randomizable array transform (built with ``prob=1``) to every key with one random draw, with
    probability ``prob``."""

    def __init__(
        self, keys: KeysCollection, transform: RandomizableTransform, prob: float, allow_missing_keys: bool
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.transform = transform

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> _SameDrawd:
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        if self._do_transform:
            self.transform.randomize(None)
        for key in self.key_iterator(d):
            if self._do_transform:
                d[key] = self.transform(d[key], randomize=False)
            else:
                d[key] = convert_to_tensor(d[key], track_meta=get_track_meta())
        return d


class RandColorJitterd(_SameDrawd):
    """Dictionary version of :class:`RandColorJitter`; every key gets the same random factors."""

    def __init__(
        self,
        keys: KeysCollection,
        brightness: float | Sequence[float] = 0.3,
        contrast: float | Sequence[float] = 0.3,
        saturation: float | Sequence[float] = 0.3,
        hue: float | Sequence[float] = 0.1,
        prob: float = 1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(
            keys, RandColorJitter(brightness, contrast, saturation, hue, prob=1.0), prob, allow_missing_keys
        )


class RandGrayscaled(_SameDrawd):
    """Dictionary version of :class:`RandGrayscale`; every key is converted together or not at all."""

    def __init__(self, keys: KeysCollection, prob: float = 0.5, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, RandGrayscale(prob=1.0), prob, allow_missing_keys)
