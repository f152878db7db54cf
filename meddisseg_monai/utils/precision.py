"""Mixed precision: the autocast names the bundle configs accept, and the matching ``torch.autocast`` context."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["AUTOCAST_DTYPES", "autocast_context", "autocast_name"]

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
_FULL_PRECISION = ("", "none", "null", "fp32", "float32")


def autocast_name(value: str | None) -> str | None:
    """The autocast setting of a config (``"bf16"``, ``"fp16"``, or ``None`` for full precision; ``"fp32"``,
    ``"none"``, ``"null"`` and ``""`` also mean full precision).

    Raises:
        ValueError: any other value, listing the accepted ones.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _FULL_PRECISION):
        return None
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in AUTOCAST_DTYPES:
        raise ValueError(f"autocast must be one of {sorted(AUTOCAST_DTYPES)} or None (fp32), got {value!r}.")
    return name


def autocast_context(device: torch.device | str, dtype: str | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on the device's type for ``dtype`` (``"bf16"`` / ``"fp16"``), or a null context for None.

    Raises:
        ValueError: unknown dtype, or fp16 on a CPU (use bf16 there).
    """
    name = autocast_name(dtype)
    if name is None:
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type == "cpu" and AUTOCAST_DTYPES[name] == torch.float16:
        raise ValueError("fp16 autocast is for GPUs; use 'bf16' on a CPU.")
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES[name])
