from __future__ import annotations

import math
import unittest

import torch
import torch.nn.functional as F
from parameterized import parameterized

from meddisseg_monai.networks.blocks import ContrastDrivenAggregation, GuidanceProjection, window_fold, window_unfold
from meddisseg_monai.networks.blocks.contrast_aggregation import _window_offsets


class TestWindowUnfoldFold(unittest.TestCase):
    @parameterized.expand([[3], [5]])
    def test_matches_torch_unfold_fold_2d(self, kernel_size):
        torch.manual_seed(0)
        x = torch.randn(2, 6, 7, 5)  # (B, C, H, W)
        padding = kernel_size // 2
        offsets = _window_offsets(kernel_size, 2)
        ours = window_unfold(x.permute(0, 2, 3, 1), offsets, padding, 2)  # (B, H, W, K, C)
        expected = F.unfold(x, kernel_size, padding=padding).reshape(2, 6, kernel_size**2, 7, 5)
        torch.testing.assert_close(ours, expected.permute(0, 3, 4, 2, 1))
        windows = torch.randn(2, 6, kernel_size**2, 7 * 5)
        folded = F.fold(windows.reshape(2, -1, 35), (7, 5), kernel_size, padding=padding)
        ours_folded = window_fold(
            windows.reshape(2, 6, kernel_size**2, 7, 5).permute(0, 3, 4, 2, 1), offsets, padding, 2
        )
        torch.testing.assert_close(ours_folded, folded.permute(0, 2, 3, 1))

    def test_fold_is_adjoint_of_unfold_3d(self):
        torch.manual_seed(0)
        offsets = _window_offsets(3, 3)
        x = torch.randn(1, 4, 5, 6, 2, 3)  # (B, D, H, W, heads, C)
        y = torch.randn(1, 4, 5, 6, 2, 27, 3)
        lhs = (window_unfold(x, offsets, 1, 3) * y).sum()
        rhs = (x * window_fold(y, offsets, 1, 3)).sum()
        torch.testing.assert_close(lhs, rhs)


CDFA_CASES = [
    # spatial_dims, in_channels, channels, heads, kernel, input spatial
    [2, 256, 128, 4, 3, (16, 12)],
    [2, 32, 16, 2, 5, (8, 8)],
    [3, 16, 8, 2, 3, (4, 6, 4)],
]


class TestContrastDrivenAggregation(unittest.TestCase):
    @parameterized.expand(CDFA_CASES)
    def test_shape(self, spatial_dims, in_channels, channels, heads, kernel, spatial):
        block = ContrastDrivenAggregation(spatial_dims, in_channels, channels, heads, kernel).eval()
        x = torch.randn(2, in_channels, *spatial)
        guide = torch.randn(2, channels, *spatial)
        with torch.no_grad():
            self.assertEqual(block(x, guide, guide).shape, (2, channels, *spatial))

    def test_weights_depend_on_guides(self):
        torch.manual_seed(0)
        block = ContrastDrivenAggregation(2, 8, 8, 2, 3).eval()
        x, fg, bg = torch.randn(3, 1, 8, 6, 6)
        with torch.no_grad():
            self.assertFalse(torch.allclose(block(x, fg, bg), block(x, bg, fg)))

    @parameterized.expand([[{"channels": 10, "num_heads": 4}], [{"kernel_size": 4}]])
    def test_invalid_options(self, kwargs):
        with self.assertRaises(ValueError):
            ContrastDrivenAggregation(2, 8, **kwargs)


class TestAttentionInChunks(unittest.TestCase):
    """Without gradients, the K x K attention weights are computed a chunk of locations at a time; the result must be
    the one-graph form's (which training, tracing and export use) up to float32 rounding: the linear layer's matrix
    product is summed in another order for another number of rows, nothing else differs."""

    # spatial dims, spatial size, the limit on one chunk's attention values, locations per chunk expected
    CASES = [
        ["2d_one_location", 2, (17, 13), 1, 1],
        ["2d_four_locations", 2, (17, 13), 4 * 4 * 81, 4],
        ["3d_fifty_locations", 3, (7, 6, 5), 50 * 4 * 729, 50],
        ["3d_whole", 3, (7, 6, 5), 2**25, 210],
    ]

    @parameterized.expand(CASES)
    def test_same_tensor(self, _, spatial_dims, spatial, limit, locations):
        torch.manual_seed(0)
        block = ContrastDrivenAggregation(spatial_dims, 6, 16, num_heads=4).eval()
        x, fg, bg = torch.randn(1, 6, *spatial), torch.randn(1, 16, *spatial), torch.randn(1, 16, *spatial)
        total = math.prod(spatial)
        with torch.no_grad():
            block.attention_chunk_elements = 2**40
            self.assertEqual(block._chunk_locations(total), total)
            whole = block(x, fg, bg)
            block.attention_chunk_elements = limit
            self.assertEqual(block._chunk_locations(total), locations)
            chunked = block(x, fg, bg)
        torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5 * whole.abs().max().item())

    def test_gradients_use_one_graph(self):
        block = ContrastDrivenAggregation(2, 6, 16, num_heads=4).eval()
        block.attention_chunk_elements = 1
        self.assertEqual(block._chunk_locations(81), 81)  # grad enabled: never chunks

    @parameterized.expand([[2, 3], [3, 3], [2, 5]])
    def test_scale_folded_into_the_layer(self, spatial_dims, kernel_size):
        """softmax(Linear(g) * head_dim^-0.5), the formula, with the scale applied to the layer's weight and bias."""
        torch.manual_seed(0)
        block = ContrastDrivenAggregation(spatial_dims, 6, 16, num_heads=4, kernel_size=kernel_size).eval()
        guide = torch.randn(37, 16)
        k = kernel_size**spatial_dims
        for foreground, layer in ((True, block.attention_fg), (False, block.attention_bg)):
            expected = torch.softmax((layer(guide) * block.scale).reshape(37, 4, k, k), dim=-1)
            torch.testing.assert_close(block._weights(guide, foreground), expected, rtol=1e-6, atol=1e-7)


class TestGuidanceProjection(unittest.TestCase):
    @parameterized.expand([[2, 1, (4, 4)], [2, 8, (32, 32)], [3, 2, (8, 8, 8)]])
    def test_scale(self, spatial_dims, scale, expected):
        block = GuidanceProjection(spatial_dims, 8, scale).eval()
        with torch.no_grad():
            out = block(torch.randn(1, 8, *([4] * spatial_dims)))
        self.assertEqual(tuple(out.shape[2:]), expected)

    def test_rejects_non_power_of_two(self):
        with self.assertRaises(ValueError):
            GuidanceProjection(2, 8, 3)


if __name__ == "__main__":
    unittest.main()


class TestWindowGradients(unittest.TestCase):
    # spatial size, heads and channels per head: every position still has neighbours outside the image (3x3(x3)
    # windows); the 3D case is small because gradgradcheck's cost grows with the square of the input size
    @parameterized.expand([[2, (4, 3), 2], [3, (3, 2, 2), 1]])
    def test_gradcheck(self, spatial_dims, spatial, width):
        offsets = _window_offsets(3, spatial_dims)
        x = torch.randn(1, *spatial, width, 2, dtype=torch.float64, requires_grad=True)
        w = torch.randn(1, *spatial, width, 3**spatial_dims, 2, dtype=torch.float64, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda t: window_unfold(t, offsets, 1, spatial_dims), (x,)))
        self.assertTrue(torch.autograd.gradcheck(lambda t: window_fold(t, offsets, 1, spatial_dims), (w,)))
        self.assertTrue(torch.autograd.gradgradcheck(lambda t: window_fold(t, offsets, 1, spatial_dims), (w,)))
