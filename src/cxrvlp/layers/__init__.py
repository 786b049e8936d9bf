"""Blocks that several methods share: masked reductions, attention and the query decoder, token aggregation, the
MLM head, projection heads, 2-D positional encodings and the packed-lateral-view helper. No losses (those are in
``objectives/``) and no method-specific pieces (those stay with their method in ``methods/``)."""
from cxrvlp.layers.aggregation import TokenAggregation
from cxrvlp.layers.attention import CrossAttention, QueryDecoder, cross_attention
from cxrvlp.layers.masked import masked_mean, masked_softmax
from cxrvlp.layers.mlm_head import MLMHead
from cxrvlp.layers.positional import sincos_2d
from cxrvlp.layers.projection import TokenProjection, build_head
from cxrvlp.layers.views import LateralViews, encode_laterals, scatter_rows

__all__ = ["CrossAttention", "LateralViews", "MLMHead", "QueryDecoder", "TokenAggregation", "TokenProjection",
           "build_head", "cross_attention", "encode_laterals", "masked_mean", "masked_softmax", "scatter_rows",
           "sincos_2d"]
