"""Small helpers shared by the bundle configs: command-line values, precision, speed options, distributed runs."""

from __future__ import annotations

from .config_values import as_bool, optional
from .distributed import (
    convert_sync_batchnorm,
    distributed_device,
    distributed_rank,
    distributed_world_size,
    init_process_group,
)
from .fast_paths import accelerate_network, network_spatial_dims
from .precision import AUTO, AUTOCAST_DTYPES, autocast_context, autocast_name, bf16_native, describe_precision, resolve_autocast

__all__ = [
    "AUTO",
    "AUTOCAST_DTYPES",
    "accelerate_network",
    "as_bool",
    "autocast_context",
    "autocast_name",
    "bf16_native",
    "convert_sync_batchnorm",
    "describe_precision",
    "distributed_device",
    "distributed_rank",
    "distributed_world_size",
    "init_process_group",
    "network_spatial_dims",
    "optional",
    "resolve_autocast",
]
