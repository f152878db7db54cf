from __future__ import annotations

import unittest

import torch
from monai.networks.layers.factories import Act
from monai.networks.layers.utils import get_act_layer
from parameterized import parameterized

from meddisseg_monai.networks.layers import TeLU, register_activations
from meddisseg_monai.networks.layers.activations import telu

# x, expected x * tanh(exp(x)) computed in float64 from the definition
VALUE_CASES = [
    [x, x * torch.tanh(torch.exp(torch.tensor(x, dtype=torch.float64))).item()]
    for x in (-6.0, -1.0, 0.0, 0.5, 2.0, 9.0)
]


class TestTeLU(unittest.TestCase):
    @parameterized.expand(VALUE_CASES)
    def test_value(self, x, expected):
        self.assertAlmostEqual(TeLU()(torch.tensor([x])).item(), expected, places=6)

    @parameterized.expand([[100.0], [1000.0], [3.0e38]])
    def test_gradient_finite_for_large_inputs(self, x):
        # the plain formula gives inf * 0 = NaN in backward once exp(x) overflows
        t = torch.tensor([x], requires_grad=True)
        TeLU()(t).sum().backward()
        self.assertTrue(torch.isfinite(t.grad).all())
        self.assertAlmostEqual(t.grad.item(), 1.0, places=6)

    @parameterized.expand([["float32", torch.float32], ["bfloat16", torch.bfloat16]])
    def test_inference_form_is_the_same_values(self, _, dtype):
        """Without gradients TeLU runs in place on one new tensor: the same numbers, and the input is left alone."""
        x = (torch.randn(64, 33) * 6).to(dtype)
        kept = x.clone()
        expected = telu(x)  # gradients enabled: the out-of-place form
        with torch.no_grad():
            out = telu(x)
        self.assertTrue(torch.equal(out, expected))
        self.assertTrue(torch.equal(x, kept))

    def test_registered_in_monai_factory(self):
        register_activations()  # idempotent
        self.assertIn("TELU", Act.names)
        self.assertIsInstance(get_act_layer("telu"), TeLU)
        self.assertIsInstance(get_act_layer(("telu", {})), TeLU)

    def test_torchscript(self):
        x = torch.linspace(-5, 5, 11)
        scripted = torch.jit.script(TeLU())
        torch.testing.assert_close(scripted(x), TeLU()(x))


if __name__ == "__main__":
    unittest.main()
