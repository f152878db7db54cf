"""Mixed precision: the autocast names the bundle configs accept, whether bf16 is native on a device, and the
matching ``torch.autocast`` context.

``"auto"`` (the bundles' default) picks bf16 where the hardware computes it natively (CPUs with AVX512-BF16 or AMX,
as oneDNN reports; CUDA devices that support bf16) and full precision elsewhere: on a CPU with only AVX2, bf16 is
emulated and a bf16 matmul runs ~40x slower than fp32.
"""

from __future__ import annotations

import contextlib
import logging

import torch

__all__ = [
    "AUTO",
    "AUTOCAST_DTYPES",
    "autocast_context",
    "autocast_name",
    "bf16_native",
    "describe_precision",
    "loss_dtype",
    "resolve_autocast",
]

AUTO = "auto"


def loss_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype losses compute in for ``x``: float64 for float64 input (a float64 step is the rounding-free reference
    of a float32 one, e.g. in ``benchmarks/step_equivalence.py``), float32 otherwise (half precision is promoted)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
_FULL_PRECISION = ("", "none", "null", "fp32", "float32")
EMULATED_BF16_SLOWDOWN = "~40x slower than fp32 for matrix products"

logger = logging.getLogger(__name__)
_reported: set[tuple[str, str]] = set()


def autocast_name(value: str | None) -> str | None:
    """The autocast setting of a config: ``"auto"``, ``"bf16"``, ``"fp16"``, or ``None`` for full precision
    (``"fp32"``, ``"none"``, ``"null"`` and ``""`` also mean full precision).

    Raises:
        ValueError: any other value, listing the accepted ones.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _FULL_PRECISION):
        return None
    name = value.strip().lower() if isinstance(value, str) else value
    if name != AUTO and name not in AUTOCAST_DTYPES:
        raise ValueError(f"autocast must be one of {[AUTO, *sorted(AUTOCAST_DTYPES)]} or None (fp32), got {value!r}.")
    return name


def bf16_native(device: torch.device | str) -> bool:
    """Whether ``device`` computes bf16 natively: oneDNN's AVX512-BF16 / AMX support on a CPU, ``is_bf16_supported``
    on CUDA. Elsewhere (an AVX2-only CPU, other device types) bf16 is emulated or unavailable."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def describe_precision(device: torch.device | str) -> str:
    """One line naming the device's capability and whether bf16 is native, for logs, benchmarks and metrics files
    (e.g. ``"cpu (AVX2), bf16 emulated"``)."""
    device = torch.device(device)
    if device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
    elif device.type == "cuda" and torch.cuda.is_available():
        capability = torch.cuda.get_device_name(device)
    else:
        capability = "unknown"
    return f"{device.type} ({capability}), bf16 {'native' if bf16_native(device) else 'emulated'}"


def resolve_autocast(value: str | None, device: torch.device | str) -> str | None:
    """The autocast dtype name to use on ``device`` for the config value ``value``.

    ``"auto"`` becomes ``"bf16"`` where bf16 is native on ``device`` and ``None`` (fp32) elsewhere. An explicit bf16
    on a device where it is emulated is honoured, with one warning about the slowdown. The choice is logged once per
    value and device type.

    Raises:
        ValueError: an unknown value (see :func:`autocast_name`).
    """
    name = autocast_name(value)
    device = torch.device(device)
    resolved = name
    if name == AUTO:
        resolved = "bf16" if bf16_native(device) else None
    key = (str(name), device.type)
    if key not in _reported:
        _reported.add(key)
        description = describe_precision(device)
        if name == AUTO:
            logger.info(f"precision: autocast 'auto' -> {resolved or 'fp32'} on {description}.")
        elif name is not None and AUTOCAST_DTYPES[name] == torch.bfloat16 and not bf16_native(device):
            logger.warning(
                f"precision: autocast {name!r} requested on {description}: bf16 is emulated here and runs "
                f"{EMULATED_BF16_SLOWDOWN}; use 'auto' or 'fp32' for speed."
            )
    return resolved


def autocast_context(device: torch.device | str, dtype: str | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on the device's type for ``dtype`` (``"auto"``, ``"bf16"``, ``"fp16"``, resolved by
    :func:`resolve_autocast`), or a null context for full precision.

    Raises:
        ValueError: unknown dtype, or fp16 on a CPU (use bf16 there).
    """
    name = resolve_autocast(dtype, device)
    if name is None:
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type == "cpu" and AUTOCAST_DTYPES[name] == torch.float16:
        raise ValueError("fp16 autocast is for GPUs; use 'bf16' on a CPU.")
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES[name])
