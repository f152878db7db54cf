"""Tests of meddisseg_monai/utils/distributed.py in one process (the two-rank run: tests/bundle/test_distributed.py)."""

from __future__ import annotations

import os
import socket
import unittest
from unittest import mock

import ignite.distributed as idist
import torch
import torch.distributed as dist

from meddisseg_monai.utils import (
    convert_sync_batchnorm,
    distributed_device,
    distributed_rank,
    distributed_world_size,
    init_process_group,
)


def _one_process_environment() -> dict[str, str]:
    """What torchrun sets for a run of one process, on a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


class TestDistributedHelpers(unittest.TestCase):
    def test_outside_torchrun_says_how(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            for helper in (distributed_rank, distributed_world_size, distributed_device, init_process_group):
                with self.assertRaisesRegex(RuntimeError, "run under torchrun"):
                    helper()

    def test_joins_the_group_and_answers_through_idist(self):
        """A real (one-process, Gloo) group: each helper joins it once; rank, size and device are idist's."""
        self.assertFalse(dist.is_initialized())
        with mock.patch.dict(os.environ, _one_process_environment()):
            try:
                self.assertEqual(distributed_rank(), 0)  # resolved first, as a config may: it joins the group
                self.assertTrue(dist.is_initialized())
                self.assertEqual(distributed_world_size(), 1)
                group = init_process_group()
                self.assertIs(group, dist.group.WORLD)
                self.assertEqual(dist.get_world_size(group), 1)
                self.assertEqual(idist.get_world_size(), 1)
                if not torch.cuda.is_available():
                    self.assertEqual(dist.get_backend(), "gloo")
                    self.assertEqual(distributed_device(), torch.device("cpu"))
            finally:
                idist.finalize()
        self.assertFalse(dist.is_initialized())

    def test_sync_batchnorm(self):
        network = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
        self.assertIs(convert_sync_batchnorm(network, "false"), network)
        if torch.cuda.is_available():
            converted = convert_sync_batchnorm(network, True)
            self.assertIsInstance(converted[1], torch.nn.SyncBatchNorm)
            self.assertIs(converted[1].weight, network[1].weight)
        else:
            with self.assertRaisesRegex(ValueError, "sync_batchnorm needs GPUs"):
                convert_sync_batchnorm(network, True)


if __name__ == "__main__":
    unittest.main()
