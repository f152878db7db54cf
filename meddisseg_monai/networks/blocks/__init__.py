from __future__ import annotations

from .attention import ChannelAttention, ConvolutionalBlockAttention, EncoderLevelAttention, SpatialAttention
from .contrast_aggregation import ContrastDrivenAggregation, GuidanceProjection, window_fold, window_unfold
from .convolution import LinearUpsample, conv_norm_act
from .dilated_enhancement import DilatedConvEnhancement
from .semantic_decoupling import DECOUPLED_MAP_NAMES, AuxiliaryMapHead, SemanticDecoupling
from .size_aware_decoder import MultiScaleOutputHead, SizeAwareDecoder
from .stage1_head import EncoderAttentionHead

__all__ = [
    "AuxiliaryMapHead",
    "ChannelAttention",
    "ContrastDrivenAggregation",
    "ConvolutionalBlockAttention",
    "DECOUPLED_MAP_NAMES",
    "DilatedConvEnhancement",
    "EncoderAttentionHead",
    "EncoderLevelAttention",
    "GuidanceProjection",
    "LinearUpsample",
    "MultiScaleOutputHead",
    "SemanticDecoupling",
    "SizeAwareDecoder",
    "SpatialAttention",
    "conv_norm_act",
    "window_fold",
    "window_unfold",
]
