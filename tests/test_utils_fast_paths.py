"""Tests of meddisseg_monai/utils/fast_paths.py (agreement on real images: tests/bundle/test_fast_paths.py)."""

from __future__ import annotations

import unittest

import torch
from monai.networks.nets import UNet
from parameterized import parameterized

from meddisseg_monai.networks import MedDisSeg
from meddisseg_monai.utils import accelerate_network, network_spatial_dims

LAYOUT_CASES = [
    [MedDisSeg(feature_channels=16), (1, 3, 32, 32), torch.channels_last],
    [UNet(3, 1, 2, channels=(4, 8), strides=(2,)), (1, 1, 16, 16, 16), torch.channels_last_3d],
]


class TestFastPaths(unittest.TestCase):
    @parameterized.expand(LAYOUT_CASES)
    def test_channels_last_keeps_module_and_outputs(self, network, shape, memory_format):
        network.eval()
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = network(x)
            keys = list(network.state_dict())
            same = accelerate_network(network, channels_last="true")
            out = network(x)
        self.assertIs(same, network)
        self.assertEqual(list(network.state_dict()), keys)
        conv = next(m for m in network.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)))
        self.assertTrue(conv.weight.is_contiguous(memory_format=memory_format))
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)

    def test_defaults_change_nothing(self):
        network = UNet(2, 1, 1, channels=(4, 8), strides=(2,))
        before = {k: v.clone() for k, v in network.state_dict().items()}
        accelerate_network(network, channels_last="false", compile="false")
        conv = next(m for m in network.modules() if isinstance(m, torch.nn.Conv2d))
        self.assertTrue(conv.weight.is_contiguous())
        for key, value in network.state_dict().items():
            torch.testing.assert_close(value, before[key])

    def test_compile_in_place(self):
        network = UNet(2, 1, 1, channels=(4, 8), strides=(2,))
        keys = list(network.state_dict())
        self.assertIs(accelerate_network(network, compile="true"), network)
        self.assertIsNotNone(network._compiled_call_impl)  # compiled at its first call (agreement: tests/bundle)
        self.assertEqual(list(network.state_dict()), keys)  # no "_orig_mod." prefix: checkpoints unchanged

    def test_spatial_dims(self):
        self.assertEqual(network_spatial_dims(MedDisSeg(spatial_dims=3, in_channels=1, feature_channels=16)), 3)
        self.assertEqual(network_spatial_dims(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3))), 1)
        with self.assertRaisesRegex(ValueError, "channels_last needs a 2D or 3D network"):
            accelerate_network(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3)), channels_last=True)
        with self.assertRaisesRegex(ValueError, "no convolution"):
            network_spatial_dims(torch.nn.Linear(2, 2))

    def test_bad_flag(self):
        with self.assertRaisesRegex(ValueError, "boolean flag"):
            accelerate_network(torch.nn.Conv2d(1, 1, 1), compile="maybe")


if __name__ == "__main__":
    unittest.main()
