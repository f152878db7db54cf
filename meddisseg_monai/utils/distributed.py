"""Helpers of the ``multi_gpu_*`` bundle configs, run by ``torchrun``: process group, device, rank, SyncBatchNorm.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in each process's environment; these helpers read them,
so a config can name its rank and device before (or while) the process group is created.
"""

from __future__ import annotations

import os

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


def _environment(name: str) -> int:
    missing = [v for v in _TORCHRUN_VARIABLES if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"the multi_gpu_* configs run under torchrun, which sets {', '.join(missing)}; e.g. "
            "`torchrun --standalone --nproc_per_node=2 -m monai.bundle run --config_file \"['configs/train.json',"
            "'configs/multi_gpu_train.json']\"`."
        )
    return int(os.environ[name])


def distributed_rank() -> int:
    """This process's global rank (``RANK`` set by torchrun)."""
    return _environment("RANK")


def distributed_world_size() -> int:
    """The number of processes (``WORLD_SIZE`` set by torchrun)."""
    return _environment("WORLD_SIZE")


def distributed_device() -> torch.device:
    """This rank's device: ``cuda:<LOCAL_RANK>`` when CUDA is available, else the CPU.

    Raises:
        RuntimeError: not started by torchrun (the message says how), or fewer GPUs than local ranks.
    """
    local_rank = _environment("LOCAL_RANK")
    if not torch.cuda.is_available():
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise RuntimeError(
            f"local rank {local_rank} but only {torch.cuda.device_count()} GPU(s): use --nproc_per_node <= the number "
            "of GPUs of each node."
        )
    return torch.device("cuda", local_rank)


def init_process_group(device: torch.device | str, backend: str | None = None) -> dist.ProcessGroup:
    """Join the default process group (once) and return it: NCCL when ``device`` is a GPU, Gloo on the CPU, or
    ``backend`` (e.g. ``"gloo"`` on GPUs without NCCL). A CUDA ``device`` also becomes this process's current GPU.

    Raises:
        RuntimeError: not started by torchrun (the message says how).
    """
    _environment("RANK")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if device.type == "cuda" else "gloo"))
    return dist.group.WORLD


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
