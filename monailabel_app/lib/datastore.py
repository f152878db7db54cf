"""The local datastore of MONAI Label, with labels checked when they are saved.

``PUT /datastore/label`` (and an ``/infer`` with ``save_label``) goes through ``Datastore.save_label``: here it first
checks the label against the served bundles' label maps (:func:`lib.labels.check_label`) and refuses, with HTTP 422 and
the reason, a label that the next training could not use; an unknown image id is HTTP 404. MONAI Label's own
``LocalDatastore`` accepts any file (HTTP 200), and the next ``/train`` then fails with a bare 500.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from fastapi import HTTPException
from monailabel.datastore.local import LocalDatastore

from lib.labels import LabelError, LabelSpec, check_label

__all__ = ["CheckedLocalDatastore"]

logger = logging.getLogger(__name__)


class CheckedLocalDatastore(LocalDatastore):
    """``LocalDatastore`` whose ``save_label`` refuses an unknown image (404) or a label outside the label maps (422).

    Args:
        label_specs: returns model name -> :class:`LabelSpec` of the served bundles (called at each save).
        *args, **kwargs: those of ``LocalDatastore``.
    """

    def __init__(self, *args: Any, label_specs: Callable[[], dict[str, LabelSpec]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._label_specs = label_specs

    def image_ids(self) -> list[str]:
        return sorted(self._datastore.objects.keys())

    def require_image(self, image_id: str) -> str:
        """The path of ``image_id``; HTTP 404 naming the datastore when there is no such image."""
        uri = self.get_image_uri(image_id) if isinstance(image_id, str) and image_id else ""
        if not uri or not os.path.isfile(uri):
            known = self.image_ids()
            shown = ", ".join(known[:5]) + (" ..." if len(known) > 5 else "")
            raise HTTPException(
                status_code=404,
                detail=f"image {image_id!r} is not in the datastore {self._datastore_path} "
                f"({len(known)} images: {shown or 'none'})",
            )
        return uri

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any]) -> str:
        image = self.require_image(image_id)
        name = f"for image {image_id!r}"  # the upload is a temporary file: name the image it belongs to
        try:
            check_label(label_filename, image, self._label_specs(), name=name)
        except LabelError as e:
            logger.warning(f"Refused label for {image_id}: {e}")
            raise HTTPException(status_code=422, detail=str(e)) from None
        return super().save_label(image_id, label_filename, label_tag, label_info)
