"""FlipTTAInferer: the average, in probability space, of the predictions of the flipped inputs, flipped back."""

from __future__ import annotations

import unittest

import torch
from monai.inferers import SimpleInferer, SlidingWindowInferer
from monai.networks import eval_mode
from parameterized import parameterized
from torch import nn

from meddisseg_monai.inferers import FlipTTAInferer, flip_combinations
from meddisseg_monai.networks import MedDisSeg
from tests.utils import kvasir_batch


def independent_average(network, x: torch.Tensor, flips, activation: str) -> torch.Tensor:
    """The mean of activation(flip(network(flip(x)))) over ``flips``, written out without the inferer."""
    act = torch.sigmoid if activation == "sigmoid" else (lambda z: torch.softmax(z, dim=1))
    probabilities = []
    for axes in flips:
        dims = [a + 2 for a in axes]
        probabilities.append(act(torch.flip(network(torch.flip(x, dims)), dims)))
    return torch.stack(probabilities).mean(0)


def make_conv_net(spatial_dims: int, out_channels: int) -> nn.Module:
    """A small real convolutional network (not flip-equivariant: its kernels are random)."""
    conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    torch.manual_seed(1)
    return nn.Sequential(conv(1, 8, 3, padding=1), nn.Tanh(), conv(8, out_channels, 3, padding=1)).eval()


# spatial_dims, out_channels, activation, spatial_axes, expected number of passes
CASES = [
    [2, 1, "sigmoid", None, 4],
    [2, 3, "softmax", None, 4],
    [3, 4, "softmax", None, 8],
    [3, 1, "sigmoid", [0], 2],
    [3, 2, "sigmoid", [1, 2], 4],
]


class TestFlipTTAInferer(unittest.TestCase):
    @parameterized.expand(CASES)
    def test_equals_independent_average(self, dims, channels, activation, axes, passes):
        net = make_conv_net(dims, channels)
        x = torch.rand(2, 1, *([12] * dims))
        calls = []
        counting = lambda i: calls.append(i.shape) or net(i)  # noqa: E731
        inferer = FlipTTAInferer(activation=activation, spatial_axes=axes)
        with torch.no_grad():
            out = inferer(x, counting)
            flips = flip_combinations(axes if axes is not None else range(dims))
            expected = independent_average(net, x, flips, activation)
            plain = net(x)
        self.assertEqual(len(calls), passes)
        self.assertEqual(out.shape, plain.shape)
        act = torch.sigmoid if activation == "sigmoid" else (lambda z: torch.softmax(z, dim=1))
        torch.testing.assert_close(act(out), expected, atol=1e-6, rtol=1e-5)
        self.assertGreater(float((act(out) - act(plain)).abs().max()), 1e-3)  # TTA changed the prediction

    @parameterized.expand([[2], [3]])
    def test_flip_equivariant(self, dims):
        """With every flip, TTA of a flipped input is the flipped TTA of the input (a single pass is not)."""
        net = make_conv_net(dims, 2)
        x = torch.rand(1, 1, *([10] * dims))
        inferer = FlipTTAInferer(activation="softmax")
        with torch.no_grad():
            for axis in range(dims):
                flipped = inferer(torch.flip(x, [axis + 2]), net)
                torch.testing.assert_close(flipped, torch.flip(inferer(x, net), [axis + 2]), atol=1e-5, rtol=1e-5)
            self.assertFalse(torch.allclose(net(torch.flip(x, [2])), torch.flip(net(x), [2]), atol=1e-4))

    def test_disabled_is_the_inner_inferer(self):
        net = make_conv_net(2, 1)
        x = torch.rand(1, 1, 16, 16)
        inner = SlidingWindowInferer(roi_size=(8, 8), sw_batch_size=2)
        for enabled in (False, "false"):
            with torch.no_grad():
                torch.testing.assert_close(
                    FlipTTAInferer(inner, enabled=enabled)(x, net), inner(x, net), atol=0, rtol=0
                )

    def test_saturated_logits_stay_finite(self):
        """Log-space averaging: logits of +-60 (probabilities 1 and 0 in float32) give the exact mean, no inf."""
        logits = torch.full((1, 1, 4, 4), -60.0)
        logits[..., 0, :] = 60.0
        net = lambda i: logits  # noqa: E731 - whatever the input: +60 on the first row, -60 elsewhere
        out = FlipTTAInferer(activation="sigmoid", spatial_axes=[0])(torch.rand(1, 1, 4, 4), net)  # row 0 -> row 3
        self.assertTrue(bool(torch.isfinite(out).all()))
        expected = torch.zeros(4, 4)
        expected[0], expected[3] = 0.5, 0.5
        torch.testing.assert_close(torch.sigmoid(out)[0, 0], expected)

    def test_meddisseg_on_real_images(self):
        """The 2D network on real Kvasir-SEG frames, through MONAI's SimpleInferer."""
        torch.manual_seed(0)
        net = MedDisSeg(feature_channels=16)
        x = kvasir_batch(count=2, size=64)
        with eval_mode(net), torch.no_grad():
            out = FlipTTAInferer(SimpleInferer(), activation="sigmoid")(x, net)
            expected = independent_average(net, x, flip_combinations([0, 1]), "sigmoid")
        torch.testing.assert_close(torch.sigmoid(out), expected, atol=1e-6, rtol=1e-5)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "activation must be one of"):
            FlipTTAInferer(activation="relu")
        with self.assertRaisesRegex(ValueError, "non-negative"):
            FlipTTAInferer(spatial_axes=[-1])
        with self.assertRaisesRegex(ValueError, r"spatial_axes \[2\] do not exist in a 2D input"):
            FlipTTAInferer(spatial_axes=[2])(torch.rand(1, 1, 4, 4), lambda i: i)
        with self.assertRaisesRegex(TypeError, "one tensor of the input's spatial size"):
            FlipTTAInferer()(torch.rand(1, 1, 4, 4), lambda i: {"pred": i})
        with self.assertRaisesRegex(TypeError, r"spatial size \[4, 4\]"):
            FlipTTAInferer()(torch.rand(1, 1, 4, 4), lambda i: i[..., :2, :2])

    def test_flip_combinations(self):
        self.assertEqual(flip_combinations([0, 1]), [(), (0,), (1,), (0, 1)])
        self.assertEqual(len(flip_combinations(range(3))), 8)
        self.assertEqual(flip_combinations([]), [()])


if __name__ == "__main__":
    unittest.main()
