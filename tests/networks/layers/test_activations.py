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

    @parameterized.expand([["float64", torch.float64, 1e-12], ["float32", torch.float32, 1e-6]])
    def test_gradient_equals_autograd_of_the_formula(self, _, dtype, tolerance):
        """The hand-written backward gives autograd's gradient of ``x * tanh(exp(clamp(x, max=8)))``."""
        x = (torch.randn(257, 9, dtype=torch.float64) * 5).to(dtype)
        x[0, :3] = torch.tensor([8.0, 9.0, 60.0], dtype=dtype)  # at and above the clamp
        grad_out = torch.randn_like(x)
        ours = x.clone().requires_grad_()
        telu(ours).backward(grad_out)
        plain = x.clone().requires_grad_()
        (plain * torch.tanh(torch.exp(torch.clamp(plain, max=8.0)))).backward(grad_out)
        torch.testing.assert_close(ours.grad, plain.grad, rtol=tolerance, atol=tolerance)

    def test_double_backward(self):
        x = (torch.randn(6, 5, dtype=torch.float64) * 3).requires_grad_()
        self.assertTrue(torch.autograd.gradgradcheck(telu, (x,)))

    def test_keeps_only_the_input_for_backward(self):
        """One tensor of the input's size is saved for the backward pass (autograd of the formula saves three)."""
        saved = []
        x = torch.randn(4, 8, 16, 16, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
            y = telu(x * 1.0)
        self.assertEqual([n for n in saved if n == x.numel()], [x.numel()])
        y.sum().backward()
        self.assertTrue(torch.isfinite(x.grad).all())

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
