from __future__ import annotations

import unittest

import torch
from parameterized import parameterized

from meddisseg_monai.networks.blocks import (
    AuxiliaryMapHead,
    ChannelAttention,
    ConvolutionalBlockAttention,
    DilatedConvEnhancement,
    EncoderAttentionHead,
    EncoderLevelAttention,
    MultiScaleOutputHead,
    SemanticDecoupling,
    SizeAwareDecoder,
    SpatialAttention,
)

# block factory, inputs (shapes), expected output shape
SINGLE_INPUT_CASES = [
    [lambda: ChannelAttention(2, 32), [(2, 32, 8, 8)], (2, 32, 8, 8)],
    [lambda: ChannelAttention(3, 32, act="telu", bias=True), [(1, 32, 4, 4, 4)], (1, 32, 4, 4, 4)],
    [lambda: SpatialAttention(2), [(2, 5, 8, 6)], (2, 5, 8, 6)],
    [lambda: ConvolutionalBlockAttention(3, 16), [(1, 16, 4, 4, 4)], (1, 16, 4, 4, 4)],
    [lambda: EncoderLevelAttention(2, 64), [(2, 64, 16, 16)], (2, 64, 16, 16)],
    [lambda: DilatedConvEnhancement(2, 64, 32), [(1, 64, 16, 16)], (1, 32, 16, 16)],
    [lambda: DilatedConvEnhancement(3, 16, 8, dilations=(2, 3)), [(1, 16, 8, 8, 8)], (1, 8, 8, 8, 8)],
    [lambda: AuxiliaryMapHead(2, 32), [(1, 32, 4, 4)], (1, 1, 64, 64)],
    [lambda: SizeAwareDecoder(2, 16, 8, 12), [(1, 16, 4, 4), (1, 8, 8, 8)], (1, 12, 8, 8)],
    [lambda: MultiScaleOutputHead(2, 16, 3), [(1, 16, 16, 16), (1, 16, 8, 8), (1, 16, 4, 4)], (1, 3, 32, 32)],
    [lambda: MultiScaleOutputHead(3, 8, 2), [(1, 8, 8, 8, 8), (1, 8, 4, 4, 4), (1, 8, 2, 2, 2)], (1, 2, 16, 16, 16)],
]


class TestBlockShapes(unittest.TestCase):
    @parameterized.expand(SINGLE_INPUT_CASES)
    def test_shape(self, factory, input_shapes, expected):
        block = factory().eval()
        with torch.no_grad():
            out = block(*[torch.randn(*s) for s in input_shapes])
        self.assertEqual(tuple(out.shape), expected)

    def test_semantic_decoupling_returns_three_maps(self):
        block = SemanticDecoupling(2, 64, 16, hidden_channels=32).eval()
        with torch.no_grad():
            maps = block(torch.randn(1, 64, 4, 4))
        self.assertEqual([tuple(m.shape) for m in maps], [(1, 16, 4, 4)] * 3)

    def test_encoder_attention_head_full_resolution(self):
        head = EncoderAttentionHead(2, (8, 16), (2, 4), out_channels=2, channels=8).eval()
        with torch.no_grad():
            out = head([torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8)])
        self.assertEqual(tuple(out.shape), (1, 2, 32, 32))

    @parameterized.expand([(2,), (3,)])
    def test_encoder_attention_head_normalises_the_full_resolution_map_in_training(self, spatial_dims):
        # the reference up-samples, then Conv1x1 -> BN -> TeLU: in train mode BN's batch statistics must be those of
        # the up-sampled map (normalising the coarse map gives the same eval output but another training objective)
        torch.manual_seed(0)
        head = EncoderAttentionHead(spatial_dims, (4, 6), (2, 4), out_channels=1, channels=8).train()
        size = (4,) * spatial_dims
        features = [torch.randn(2, 4, *(2 * s for s in size)), torch.randn(2, 6, *size)]
        levels = []
        for feature, projection, upsample, attention in zip(
            features, head.projections, head.upsamples, head.attentions
        ):
            levels.append(attention(head.act(projection(upsample(feature)))))  # the reference's order
        expected = head.fuse(torch.cat(levels, dim=1))
        torch.testing.assert_close(head(features), expected, rtol=1e-5, atol=1e-6)

    def test_spatial_attention_rejects_even_kernel(self):
        with self.assertRaises(ValueError):
            SpatialAttention(2, kernel_size=4)


if __name__ == "__main__":
    unittest.main()
