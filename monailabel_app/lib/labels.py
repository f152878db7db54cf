"""The label values a bundle's masks hold, read from its ``metadata.json``, and the check of a label file against them.

Two kinds of bundle:

- one output channel (a sigmoid foreground, as the 2D bundle): the mask is binary and is written, like the bundle's
  own inference output, as 0 (background) / 255 (foreground), ``uint8``;
- several output channels (a softmax over classes, as the CT bundle): the mask holds the class ids of
  ``channel_def`` (0 is the background).

A label saved into the datastore must hold only those values, have one channel and the image's spatial size, or the
next training would learn from something else than the user drew (a 0/1 mask thresholded at 127 is empty).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BINARY_FOREGROUND", "LabelSpec", "LabelError", "read_spatial_shape", "check_label"]

BINARY_FOREGROUND = 255  # the foreground value of a binary mask (the 2D bundle's SaveImaged writes scale=255, uint8)
LOSSY_EXTENSIONS = (".jpg", ".jpeg")
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class LabelError(ValueError):
    """A label file that does not fit a bundle's label map (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class LabelSpec:
    """The label map of one bundle.

    Attributes:
        dimension: spatial dimensions of the model (2 or 3).
        labels: label name -> value in a mask, background excluded (what ``GET /info/`` lists).
        binary: True for a one-channel (sigmoid) model, whose masks are 0 / ``BINARY_FOREGROUND``.
    """

    dimension: int
    labels: dict[str, int] = field(default_factory=dict)
    binary: bool = False

    @property
    def values(self) -> set[int]:
        """Every value a mask may hold: the background 0 and each label's value."""
        return {0, *self.labels.values()}

    def describe(self) -> str:
        return ", ".join(f"{v}: {k}" for k, v in sorted({"background": 0, **self.labels}.items(), key=lambda i: i[1]))

    @classmethod
    def from_metadata(cls, metadata: dict) -> "LabelSpec":
        """From a bundle's ``metadata.json`` content (``network_data_format`` ``inputs.image`` and ``outputs.pred``)."""
        image = next(iter(metadata["network_data_format"]["inputs"].values()))
        pred = next(iter(metadata["network_data_format"]["outputs"].values()))
        dimension = len(image.get("spatial_shape") or [0, 0, 0])
        channel_def = {int(k): str(v).lower() for k, v in pred.get("channel_def", {}).items()}
        if int(pred.get("num_channels", len(channel_def))) == 1:
            name = channel_def.get(0, "foreground")
            return cls(dimension=dimension, labels={name: BINARY_FOREGROUND}, binary=True)
        labels = {name: index for index, name in sorted(channel_def.items()) if index != 0 and name != "background"}
        return cls(dimension=dimension, labels=labels, binary=False)

    @classmethod
    def from_bundle(cls, bundle_dir: str | os.PathLike) -> "LabelSpec":
        path = os.path.join(bundle_dir, "configs", "metadata.json")
        with open(path) as f:
            return cls.from_metadata(json.load(f))


def _load(path: str) -> np.ndarray:
    """The array as the bundles read it: MONAI's ``LoadImage`` (PILReader for PNG / JPEG, NIfTI readers for volumes),
    spatial axes first, a channel axis last when there is one."""
    from monai.transforms import LoadImage

    return np.asarray(LoadImage(image_only=True)(path))


def read_spatial_shape(path: str, dimension: int) -> tuple[int, ...]:
    """The spatial shape of an image as the bundles read it (``dimension`` leading axes; an RGB frame is (W, H, 3))."""
    return tuple(int(s) for s in _load(path).shape[:dimension])


def check_label(label_file: str, image_file: str, specs: dict[str, LabelSpec], name: str | None = None) -> None:
    """Raises :class:`LabelError` when ``label_file`` does not fit any of ``specs`` (model -> LabelSpec) for the image.

    Checks: readable; one channel; the spatial size of ``image_file``; only the values of a served model's label map
    (binary models: 0 / 255; multi-class: the ``channel_def`` ids). ``name`` is how the file is named in messages (the
    uploaded file's name; default its path).
    """
    name = name or label_file
    try:
        label = _load(label_file)
    except Exception as e:  # noqa: BLE001 - any reader failure means the file is not a readable label
        raise LabelError(f"label {name}: cannot be read as an image ({type(e).__name__}: {e})") from None
    frame = label_file.lower().endswith(FRAME_EXTENSIONS)  # a 2D picture file, read (W, H) or (W, H, channels)
    dimension = 2 if frame else label.ndim
    candidates = {m: s for m, s in specs.items() if s.dimension == dimension}
    if not candidates:
        dims = sorted({s.dimension for s in specs.values()})
        raise LabelError(f"label {name}: is {dimension}D (shape {list(label.shape)}); the served models are {dims}D")
    if frame and label.ndim != 2:
        raise LabelError(f"label {name}: has {label.shape[-1]} channels; a label is one channel (a grayscale PNG)")
    try:
        image_shape = read_spatial_shape(image_file, label.ndim)
    except Exception as e:  # noqa: BLE001
        raise LabelError(f"label {name}: its image {image_file} cannot be read ({type(e).__name__}: {e})") from None
    if tuple(label.shape) != image_shape:
        raise LabelError(
            f"label {name}: spatial size {list(label.shape)} differs from its image's {list(image_shape)} "
            f"({os.path.basename(image_file)}); a label has the image's size"
        )
    if not np.all(np.isfinite(label)) or not np.all(np.equal(np.round(label), label)):
        raise LabelError(f"label {name}: holds non-integer values; a label holds label ids")
    values = {int(v) for v in np.unique(label)}
    for model, spec in candidates.items():
        if values <= spec.values:
            return
    model, spec = next(iter(candidates.items()))
    bad = sorted(values - spec.values)
    shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if len(bad) > 10 else "")
    hint = ""
    if spec.binary:
        hint = " (a binary mask holds 0 and 255 only"
        hint += (
            ", saved as PNG: JPEG compression adds other values)"
            if label_file.lower().endswith(LOSSY_EXTENSIONS)
            else ")"
        )
    raise LabelError(f"label {name}: values {shown} are outside the label map of {model!r} ({spec.describe()}){hint}")
