"""Overlay of a predicted mask on its source image, for people to look at."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
import torch.nn.functional as F
from monai.config.type_definitions import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms.transform import MapTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

from .channels import EnsureRGB, source_name

__all__ = ["MaskOverlay", "MaskOverlayd"]


class MaskOverlay(Transform):
    """Blend a binary mask onto a channel-first 2D image and outline it: a ``uint8`` RGB image ``(3, *spatial)``.

    Inside the mask the image is mixed with ``color`` (weight ``alpha``); the mask's boundary, about
    ``1 + min(size) // 256`` pixels thick, is drawn in ``color``.

    Args:
        color: RGB outline and tint colour, 0-255.
        alpha: tint weight inside the mask, in ``[0, 1]``.
        image_range: the value of white in the input image (255 for images read from 8-bit files, 1 for scaled ones).
        strip_rows: rows drawn at a time (a large image never has a whole float copy); the result does not depend on it.

    Raises:
        ValueError: the image and mask sizes differ, or the image is not 2D.
    """

    def __init__(
        self,
        color: Sequence[int] = (0, 255, 0),
        alpha: float = 0.35,
        image_range: float = 255.0,
        strip_rows: int = 512,
    ) -> None:
        if len(color) != 3:
            raise ValueError(f"color must be an RGB triple, got {color!r}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
        self.color = torch.tensor([float(c) for c in color]).view(3, 1, 1)
        self.alpha = alpha
        self.image_range = image_range
        self.to_rgb = EnsureRGB()
        if strip_rows < 1:
            raise ValueError(f"strip_rows must be at least 1, got {strip_rows}.")
        self.strip_rows = strip_rows

    def __call__(self, img: NdarrayOrTensor, mask: NdarrayOrTensor) -> NdarrayOrTensor:
        image = convert_to_tensor(self.to_rgb(img), track_meta=get_track_meta())
        foreground = convert_to_tensor(mask, track_meta=False)
        if image.ndim != 3:
            raise ValueError(f"{source_name(img)}: MaskOverlay draws 2D images, got shape {tuple(image.shape)}.")
        if foreground.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"{source_name(img)}: mask {tuple(foreground.shape)} and image {tuple(image.shape)} sizes differ."
            )
        pixels = image.as_tensor() if hasattr(image, "as_tensor") else image
        inside = foreground.reshape(-1, *foreground.shape[-2:])[0] > 0.5
        thickness = 1 + min(inside.shape) // 256
        blended = torch.empty(pixels.shape, dtype=torch.uint8)
        # strips of rows, each with `thickness` rows of context, so no float copy of a large image is ever whole
        for top in range(0, inside.shape[0], self.strip_rows):
            bottom = min(top + self.strip_rows, inside.shape[0])
            low, high = max(top - thickness, 0), min(bottom + thickness, inside.shape[0])
            boundary = _boundary(inside[low:high], thickness)[top - low : top - low + bottom - top]
            region = inside[top:bottom].float()
            tint = self.alpha * region
            strip = pixels[:, top:bottom].float() * (255.0 / self.image_range)
            strip = strip * (1 - tint) + self.color * tint
            strip = strip * (1 - boundary) + self.color * boundary
            blended[:, top:bottom] = strip.round().clamp(0, 255).to(torch.uint8)
        out, *_ = convert_to_dst_type(blended, image, dtype=torch.uint8)
        return out


def _boundary(inside: torch.Tensor, thickness: int) -> torch.Tensor:
    """``1.0`` where a pixel of ``inside`` (a 2D bool mask) has a pixel outside the mask within ``thickness`` (a
    square neighbourhood, image borders not counting as outside)."""
    # the count of outside pixels in each square window, from running sums along rows then columns: exact integers,
    # and linear in the image size whatever the thickness (a max filter is quadratic in it)
    count = (~inside).to(torch.int32)
    for dim in (1, 0):
        size = count.shape[dim]
        running = F.pad(count.cumsum(dim, dtype=torch.int32), (1, 0) if dim == 1 else (0, 0, 1, 0))
        positions = torch.arange(size)
        upper = torch.clamp(positions + thickness + 1, max=size)
        lower = torch.clamp(positions - thickness, min=0)
        count = running.index_select(dim, upper) - running.index_select(dim, lower)
    return (inside & (count > 0)).float()


class MaskOverlayd(MapTransform):
    """Dictionary version of :class:`MaskOverlay`: draws ``data[mask_key]`` on ``data[key]`` into ``data[name]``
    (which keeps the image's meta data, so ``SaveImaged`` names the overlay after the source image).

    Args:
        keys: the image key (one).
        mask_key: the binary mask, at the image's size.
        names: the output key.
        color, alpha, image_range: as :class:`MaskOverlay`.
    """

    def __init__(
        self,
        keys: str,
        mask_key: str = "pred",
        names: str = "overlay",
        color: Sequence[int] = (0, 255, 0),
        alpha: float = 0.35,
        image_range: float = 255.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"MaskOverlayd draws one image, got keys {self.keys!r}.")
        self.mask_key = mask_key
        self.names = names
        self.overlay = MaskOverlay(color, alpha, image_range)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.names] = self.overlay(d[key], d[self.mask_key])
        return d
