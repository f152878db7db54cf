"""Small helpers shared by the bundle configs: command-line values, precision, speed options, distributed runs."""

from __future__ import annotations

from .command_line import check_command_line, check_overrides, install_error_summary
from .config_values import Flags, as_bool, optional
from .distributed import (
    convert_sync_batchnorm,
    distributed_device,
    distributed_rank,
    distributed_world_size,
    init_process_group,
)
from .fast_paths import accelerate_network, network_spatial_dims
from .files import OutputFolderError, check_writable
from .precision import (
    AUTO,
    AUTOCAST_DTYPES,
    autocast_context,
    autocast_name,
    bf16_native,
    describe_precision,
    loss_dtype,
    resolve_autocast,
)
from .training_record import check_image_size, read_training_record, trained_image_size, write_training_record

__all__ = [
    "AUTO",
    "AUTOCAST_DTYPES",
    "OutputFolderError",
    "accelerate_network",
    "Flags",
    "as_bool",
    "autocast_context",
    "autocast_name",
    "check_command_line",
    "check_image_size",
    "check_overrides",
    "check_writable",
    "bf16_native",
    "convert_sync_batchnorm",
    "describe_precision",
    "loss_dtype",
    "distributed_device",
    "distributed_rank",
    "distributed_world_size",
    "init_process_group",
    "install_error_summary",
    "network_spatial_dims",
    "optional",
    "read_training_record",
    "trained_image_size",
    "write_training_record",
    "resolve_autocast",
]
