"""Values that come from bundle command lines.

``python -m monai.bundle run --flag false`` passes the *string* ``"false"`` (``fire`` only turns the Python literals
``False`` / ``None`` into objects), and a non-empty string is true in Python. The bundle configs read their flags and
optional paths through these helpers so that ``false`` / ``null`` on a command line mean what they say.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_bool", "optional"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("", "none", "null")


def as_bool(value: Any) -> bool:
    """``True`` / ``False`` from a bool, a number, or ``true`` / ``false`` / ``yes`` / ``no`` / ``on`` / ``off``.

    Raises:
        ValueError: anything else (e.g. a misspelt flag), naming the value.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected a boolean flag (true / false), got {value!r}.")


def optional(value: Any) -> Any:
    """``None`` for ``None`` and the strings ``null`` / ``none`` / ``""``; the value itself otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
        return None
    return value
