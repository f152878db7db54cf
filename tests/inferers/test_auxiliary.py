from __future__ import annotations

import unittest

import torch
from monai.networks import eval_mode
from parameterized import parameterized

from meddisseg_monai.inferers import AuxiliaryMapInferer
from meddisseg_monai.networks import MedDisSeg

CASES = [[("uncertainty",), 2], [("foreground", "background", "uncertainty"), 4], [(), 1]]


class TestAuxiliaryMapInferer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.net = MedDisSeg(feature_channels=16)

    @parameterized.expand(CASES)
    def test_maps(self, maps, channels):
        x = torch.rand(1, 3, 32, 32)
        with eval_mode(self.net):
            out = AuxiliaryMapInferer(maps)(x, self.net)
            reference = self.net(x)
        self.assertEqual(tuple(out.shape), (1, channels, 32, 32))
        torch.testing.assert_close(out[:, :1], reference)

    def test_matches_train_mode_heads(self):
        x = torch.rand(2, 3, 32, 32)
        with eval_mode(self.net):
            out = AuxiliaryMapInferer(("uncertainty",))(x, self.net)
            features = self.net.encoder(x)
            expected = self.net.auxiliary_heads[2](self.net.decoupling(features[3])[2])
        torch.testing.assert_close(out[:, 1:], expected)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unknown auxiliary maps"):
            AuxiliaryMapInferer(("edges",))
        with self.assertRaisesRegex(TypeError, "MedDisSeg"):
            AuxiliaryMapInferer()(torch.rand(1, 3, 8, 8), torch.nn.Conv2d(3, 1, 1))


if __name__ == "__main__":
    unittest.main()
