"""Attention between token sets: the functional cross-attention of the local image-report losses (GLoRIA, MGCA,
LIMITR) and the query decoder of the F-L branches (and of any method whose queries read another modality).

Shapes broadcast over the leading dimensions in :func:`cross_attention`, so one call serves both uses:

- within each study: ``query [B, Q, D]`` and ``context [B, C, D]`` give ``[B, Q, D]``;
- all pairs of a batch: ``query [Bt, 1, Q, D]`` and ``context [1, Bi, C, D]`` give ``[Bt, Bi, Q, D]``.
"""
from __future__ import annotations

import torch
from torch import nn

from cxrvlp.layers.masked import masked_softmax


def cross_attention(query: torch.Tensor, context: torch.Tensor, scale: float, *,
                    query_mask: torch.Tensor | None = None, context_mask: torch.Tensor | None = None,
                    normalise_over_queries: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Each query token attends over the context tokens; returns ``(attended context, weights)``.

    With :math:`s_{qc} = x_q \cdot y_c`:

    - ``normalise_over_queries=False`` (MGCA, :math:`\text{scale} = 1/\tau`):
      :math:`a_{qc} = \operatorname{softmax}_c(\text{scale}\cdot s_{qc})`.
    - ``normalise_over_queries=True`` (GLoRIA / LIMITR, after AttnGAN; :math:`\text{scale} = \gamma_1 = 4`):
      :math:`\bar s_{qc} = \operatorname{softmax}_q(s_{qc})`, then
      :math:`a_{qc} = \operatorname{softmax}_c(\gamma_1 \bar s_{qc})`. The first softmax (over the queries of one
      context token) bounds the raw, unnormalised dot products before the sharpened softmax over the context.

    The attended context is :math:`\sum_c a_{qc}\, y_c`. Masks (true = real token) exclude padding words and absent
    regions from both softmaxes; outputs at masked query positions are meaningless and must be masked by the caller.

    Args:
        query: ``[..., Q, D]``; context: ``[..., C, D]`` (leading dims broadcast).
        scale: multiplier of the logits of the softmax over the context.
        query_mask: ``[..., Q]`` bool; context_mask: ``[..., C]`` bool.

    Returns:
        ``[..., Q, D]`` attended context and ``[..., Q, C]`` weights (rows sum to 1).
    """
    scores = query @ context.transpose(-1, -2)  # [..., Q, C]
    if normalise_over_queries:
        qmask = None if query_mask is None else query_mask.unsqueeze(-1)
        scores = masked_softmax(scores, qmask, dim=-2)
    cmask = None if context_mask is None else context_mask.unsqueeze(-2)
    weights = masked_softmax(scale * scores, cmask, dim=-1)
    return weights @ context, weights


class CrossAttention(nn.Module):
    """Queries attend over a context (LayerNorm on both sides, multi-head attention). No residual connection from
    the queries, as in F-L's code: the output is made of context (image) content only, so the frontal-lateral
    contrast cannot be met by report tokens passing straight through, and the MLM has to read the words from the
    image tokens its masked report attends to."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.norm_query, self.norm_context = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, query: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None,
                return_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``query [B, Q, D]``, ``context [B, C, D]``, ``context_mask [B, C]`` (true = real) →
        ``([B, Q, D], head-averaged weights [B, Q, C] or None)``."""
        padding = None if context_mask is None else ~context_mask.bool()
        ctx = self.norm_context(context)
        return self.attn(self.norm_query(query), ctx, ctx, key_padding_mask=padding, need_weights=return_weights)


class QueryDecoder(nn.Module):
    """One :class:`CrossAttention` followed by ``self_layers`` pre-norm transformer layers over the queries
    (padding queries masked) and a final LayerNorm. F-L: 512-d, 8 heads; 4 self-attention layers after the MLM
    cross-attention, 2 in the frontal-lateral query decoder."""

    def __init__(self, dim: int, heads: int = 8, self_layers: int = 2, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"decoder width {dim} is not divisible by {heads} heads")
        self.cross_attn = CrossAttention(dim, heads, dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.self_attn = nn.TransformerEncoder(layer, self_layers, enable_nested_tensor=False) if self_layers else None
        self.norm = nn.LayerNorm(dim)

    def forward(self, query: torch.Tensor, query_mask: torch.Tensor, context: torch.Tensor,
                context_mask: torch.Tensor | None = None,
                return_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, weights = self.cross_attn(query, context, context_mask, return_weights)
        if self.self_attn is not None:
            x = self.self_attn(x, src_key_padding_mask=~query_mask.bool())
        return self.norm(x), weights
