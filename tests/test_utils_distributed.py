"""Tests of meddisseg_monai/utils/distributed.py outside torchrun (the two-rank run: tests/bundle/test_distributed.py)."""

from __future__ import annotations

import os
import unittest
from unittest import mock

import torch

from meddisseg_monai.utils import convert_sync_batchnorm, distributed_device, distributed_rank, distributed_world_size

TORCHRUN_ENV = {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


class TestDistributedHelpers(unittest.TestCase):
    def test_outside_torchrun_says_how(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            for helper in (distributed_rank, distributed_world_size, distributed_device):
                with self.assertRaisesRegex(RuntimeError, "run under torchrun"):
                    helper()

    def test_reads_torchrun_environment(self):
        with mock.patch.dict(os.environ, TORCHRUN_ENV):
            self.assertEqual(distributed_rank(), 1)
            self.assertEqual(distributed_world_size(), 2)
            if not torch.cuda.is_available():
                self.assertEqual(distributed_device(), torch.device("cpu"))

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
