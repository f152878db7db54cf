"""Values that come from bundle command lines.

``python -m monai.bundle run --flag false`` passes the *string* ``"false"`` (``fire`` only turns the Python literals
``False`` / ``None`` into objects), and a non-empty string is true in Python. The bundle configs read their flags and
optional paths through these helpers so that ``false`` / ``null`` on a command line mean what they say: each config
parses its boolean options once, in one :class:`Flags` entry, and everything else reads ``@flags.<name>``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Flags", "as_bool", "optional"]

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


class Flags:
    """A config's boolean options, each parsed once with :func:`as_bool`; read them as attributes.

    In a bundle config::

        "save_masks": false,
        "flags": {"_target_": "meddisseg_monai.utils.Flags", "save_masks": "@save_masks"},
        "_disabled_": "$not @flags.save_masks"

    so ``--save_masks false`` (the string ``"false"`` from ``fire``) disables what it says. A config that extends
    another adds its own with ``"flags#save_masks": "@save_masks"``.

    Raises:
        ValueError: an option whose value is not a boolean (e.g. ``--save_masks ture``), naming the option.
    """

    def __init__(self, **options: Any) -> None:
        for name, value in options.items():
            try:
                parsed = as_bool(value)
            except ValueError as error:
                raise ValueError(f"--{name}: {error}") from None
            setattr(self, name, parsed)

    def __repr__(self) -> str:
        return f"Flags({', '.join(f'{k}={v}' for k, v in vars(self).items())})"
