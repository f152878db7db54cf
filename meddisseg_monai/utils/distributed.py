"""Helpers of the ``multi_gpu_*`` bundle configs, run by ``torchrun``: process group, device, rank, SyncBatchNorm.

The process group, device, rank and world size are ``ignite.distributed``'s (``idist.initialize``, ``idist.device``,
``idist.get_rank``, ``idist.get_world_size``), the ones MONAI's Ignite engines and handlers use. What is local: the
message that says how to start a run outside ``torchrun``, and each helper joins the group first (once), because a
config may resolve ``@rank`` or ``@device`` before the process group exists, where ``idist`` would answer rank 0 on
every process.
"""

from __future__ import annotations

import os

import ignite.distributed as idist
import torch
import torch.distributed as dist
from torch import nn

from .config_values import as_bool

__all__ = [
    "convert_sync_batchnorm",
    "distributed_device",
    "distributed_rank",
    "distributed_world_size",
    "init_process_group",
]

_TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _check_torchrun() -> None:
    missing = [v for v in _TORCHRUN_VARIABLES if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"the multi_gpu_* configs run under torchrun, which sets {', '.join(missing)}; e.g. "
            "`torchrun --standalone --nproc_per_node=2 -m monai.bundle run --config_file \"['configs/train.json',"
            "'configs/multi_gpu_train.json']\"`."
        )


def init_process_group(device: torch.device | str | None = None, backend: str | None = None) -> dist.ProcessGroup:
    """Join the default process group once (``idist.initialize``) and return it: NCCL when ``device`` is a GPU (or,
    without ``device``, when CUDA is available), Gloo on the CPU, or ``backend`` (e.g. ``"gloo"`` on GPUs without
    NCCL). With CUDA, GPU ``LOCAL_RANK`` becomes this process's current device (idist does that).

    Raises:
        RuntimeError: not started by torchrun (the message says how), or fewer GPUs than local ranks.
    """
    _check_torchrun()
    if not dist.is_initialized():
        local_rank = int(os.environ["LOCAL_RANK"])
        if torch.cuda.is_available() and local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"local rank {local_rank} but only {torch.cuda.device_count()} GPU(s): use --nproc_per_node <= the "
                "number of GPUs of each node."
            )
        on_gpu = torch.device(device).type == "cuda" if device is not None else torch.cuda.is_available()
        idist.initialize(backend or ("nccl" if on_gpu else "gloo"))
    return dist.group.WORLD


def distributed_device() -> torch.device:
    """This rank's device, ``idist.device()`` once the group is joined: ``cuda:<LOCAL_RANK>`` with CUDA, else the CPU.

    Raises:
        RuntimeError: not started by torchrun (the message says how), or fewer GPUs than local ranks.
    """
    init_process_group()
    return idist.device()


def distributed_rank() -> int:
    """This process's global rank, ``idist.get_rank()`` once the group is joined."""
    init_process_group()
    return idist.get_rank()


def distributed_world_size() -> int:
    """The number of processes, ``idist.get_world_size()`` once the group is joined."""
    init_process_group()
    return idist.get_world_size()


def convert_sync_batchnorm(network: nn.Module, enabled: bool | str = True) -> nn.Module:
    """Replace the network's BatchNorm layers by ``SyncBatchNorm`` (statistics over the global batch, not each
    device's few images), keeping their parameters; the network unchanged when ``enabled`` is false.

    Raises:
        ValueError: enabled without CUDA (PyTorch's SyncBatchNorm runs on GPUs only).
    """
    if not as_bool(enabled):
        return network
    if not torch.cuda.is_available():
        raise ValueError("sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm has no CPU kernel); set it to false.")
    return nn.SyncBatchNorm.convert_sync_batchnorm(network)
