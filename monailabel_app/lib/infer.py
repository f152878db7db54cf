"""Inference of a meddisseg-monai bundle in MONAI Label: ``BundleInferTask`` plus what the bundles need.

What MONAI Label's ``BundleInferTask`` (0.8.5) does not do for these bundles, and this task adds:

- **2D frames.** Its ``Writer`` writes the mask with the input's extension through ITK: a float 0/1 array saved as
  ``.jpg`` (lossy, and ITK's JPEG writer takes 8-bit only). Here a binary (one-channel) bundle's mask is written as
  the bundle's own inference writes it: a PNG of the frame's size, ``uint8``, 0 / 255 (MONAI's ``PILWriter``, scale
  255). ``/info/`` lists the label as ``{"foreground": 255}``: the value in the mask (MONAI Label would list the
  channel index, 0, which is the background value of a mask).
- **The label dtype.** Volumes are written with the ``output_dtype`` of the bundle's own ``SaveImaged`` (``uint8``),
  not float32.
- **Bad input.** An image that cannot be read or preprocessed is HTTP 422 naming the file and the cause, not a 500.
- **Concurrency.** Requests to one model run one at a time (a lock: the task re-parses the bundle config per request,
  which is not thread-safe); ``lib.routes`` runs them off the event loop, so other endpoints stay responsive.
- **Which weights answered.** The result JSON (``output=json``) has ``model_mtime`` (the ``models/model.pt`` the
  network was loaded from; MONAI Label reloads it when the file changes) and ``foreground_probability_mean``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException
from monai.data import PILWriter
from monailabel.tasks.infer.bundle import BundleInferTask

from lib.labels import BINARY_FOREGROUND, LabelSpec

__all__ = ["MedDisSegInferTask", "root_cause"]

logger = logging.getLogger(__name__)

# The bundles' own file outputs: off in MONAI Label, which returns the mask itself (SaveImaged is filtered out already).
FILE_OUTPUT_KEYS = ("save_overlays", "save_probabilities", "save_uncertainty")


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain (MONAI wraps a transform's error in ``RuntimeError("applying ...")``)."""
    while error.__cause__ is not None or (error.__context__ is not None and not error.__suppress_context__):
        error = error.__cause__ or error.__context__
    return error


class MedDisSegInferTask(BundleInferTask):
    """``BundleInferTask`` over a meddisseg-monai bundle (``configs/inference.json``, ``metadata.json``).

    Args:
        path: the bundle folder (``<app>/model/<name>``).
        conf: the server's ``--conf`` pairs.
        spec: the bundle's label map (:class:`lib.labels.LabelSpec`).
        kwargs: passed to ``BundleInferTask``.
    """

    def __init__(self, path: str, conf: dict[str, str], spec: LabelSpec, **kwargs: Any):
        super().__init__(path, conf, **kwargs)
        self.spec = spec
        self._lock = threading.Lock()
        if not self.valid:
            return
        self.labels = dict(spec.labels)
        for key in FILE_OUTPUT_KEYS:
            if key in self.bundle_config.config:
                self.bundle_config[key] = False
        self.label_dtype = self._bundle_label_dtype()

    def _bundle_label_dtype(self) -> Any:
        """``output_dtype`` of the bundle's ``SaveImaged`` of ``pred`` (default ``uint8``)."""
        transforms = (self.bundle_config.config.get("postprocessing") or {}).get("transforms", [])
        for index, t in enumerate(transforms if isinstance(transforms, list) else []):
            if (
                isinstance(t, dict)
                and str(t.get("_target_", "")).endswith("SaveImaged")
                and t.get("keys")
                in (
                    "pred",
                    ["pred"],
                )
            ):
                if "output_dtype" in t:
                    return np.dtype(
                        self.bundle_config.get_parsed_content(f"postprocessing#transforms#{index}#output_dtype")
                    )
        return np.dtype(np.uint8)

    def __call__(self, request, callbacks=None):
        with self._lock:
            return super().__call__(request, callbacks)

    def run_pre_transforms(self, data: dict[str, Any], transforms):
        try:
            return super().run_pre_transforms(data, transforms)
        except HTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - the input could not be read or prepared: the client's image
            cause = root_cause(e)
            path = data.get("image_path", data.get("image"))
            logger.warning(f"Refused image {path}: {type(cause).__name__}: {cause}")
            raise HTTPException(
                status_code=422,
                detail=f"image {path}: cannot be read or prepared for this {self.dimension}D model "
                f"({type(cause).__name__}: {cause})",
            ) from None

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cuda"):
        data = super().run_inferer(data, convert_to_batch=convert_to_batch, device=device)
        result = data.setdefault(self.output_json_key, {})
        logits = data.get(self.output_label_key)
        if isinstance(logits, torch.Tensor) and logits.ndim == self.dimension + 1:
            with torch.no_grad():
                logits = logits.float()
                foreground = torch.sigmoid(logits[:1]) if self.spec.binary else 1 - torch.softmax(logits, 0)[0]
                result["foreground_probability_mean"] = float(foreground.mean())
        cached = self._networks.get(device)
        if cached:
            result["model_mtime"] = cached[1]
        return data

    def writer(self, data: dict[str, Any], extension=None, dtype=None):
        if self.dimension == 2 and self.spec.binary:
            return self._write_binary_png(data)
        dtype = dtype or data.get("result_dtype") or self.label_dtype
        return super().writer(data, extension=extension, dtype=dtype)

    def _write_binary_png(self, data: dict[str, Any]):
        """The mask as the 2D bundle's inference writes it: PNG, the frame's size, uint8 0 / 255."""
        mask = data[self.output_label_key]
        mask = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        mask = (mask > 0.5).astype(np.float32)  # AsDiscreted gave 0 / 1; PILWriter scales [0, 1] to [0, 255]
        writer = PILWriter(output_dtype=np.uint8, scale=BINARY_FOREGROUND)
        writer.set_data_array(mask, channel_dim=0 if mask.ndim == 3 else None)
        fd, path = tempfile.mkstemp(suffix=".png")
        os.close(fd)
        writer.write(path)
        return path, data.get(self.output_json_key, {})
