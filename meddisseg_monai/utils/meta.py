"""The file an item came from, read from its meta data (``filename_or_obj``), for error messages and records."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.utils import ImageMetaKey

__all__ = ["source_name"]


def source_name(data: Any, key: Hashable | None = None, default: str | None = None) -> str:
    """``filename_or_obj`` of a MetaTensor's meta data, or of ``data[key]`` (its ``meta``, else ``<key>_meta_dict``).

    A collated list of names gives its first. Without a name: ``default``, which is ``"<key>"`` for an item and
    ``"<array>"`` for a tensor when not given.

    Args:
        data: a MetaTensor (or array), or a dictionary item when ``key`` is given.
        key: the item key whose source to name.
        default: what to return when no file is known.
    """
    if key is None:
        value, meta = data, getattr(data, "meta", None)
    else:
        value = data.get(key) if isinstance(data, Mapping) else None
        meta = getattr(value, "meta", None)
        if meta is None and isinstance(data, Mapping):
            meta = data.get(f"{key}_meta_dict")
    name = meta.get(ImageMetaKey.FILENAME_OR_OBJ) if isinstance(meta, Mapping) else None
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    if name:
        return str(name)
    if default is not None:
        return default
    return "<array>" if key is None else f"<{key}>"
