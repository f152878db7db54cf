from __future__ import annotations

from ...utils.enums import DECOUPLED_MAP_NAMES  # re-exported: its home is meddisseg_monai.utils.enums
from .attention import ChannelAttention, ConvolutionalBlockAttention, EncoderLevelAttention, SpatialAttention
from .contrast_aggregation import ContrastDrivenAggregation, GuidanceProjection, window_fold, window_unfold
from .convolution import conv_norm_act, linear_upsample
from .dilated_enhancement import DilatedConvEnhancement
from .semantic_decoupling import AuxiliaryMapHead, SemanticDecoupling
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
    "MultiScaleOutputHead",
    "SemanticDecoupling",
    "SizeAwareDecoder",
    "SpatialAttention",
    "conv_norm_act",
    "linear_upsample",
    "window_fold",
    "window_unfold",
]
