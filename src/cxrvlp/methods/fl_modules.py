"""Building blocks of F-L (Gong et al., IEEE TMI 2026): key-token selection, learned token aggregation, the query
decoder shared by the MLM and frontal-lateral branches, and the MLM head."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.objectives.attention import masked_softmax
from cxrvlp.objectives.limitr import masked_mean


@dataclass
class KeyTokens:
    """Output of :func:`select_key_tokens`.

    - ``tokens [B, K, D]``: each study's kept tokens in descending score order; ``mask [B, K]`` (a study keeps
      fewer than ``K`` when it has fewer real tokens).
    - ``merged [B, D]``: the softmax(score)-weighted merge of the tokens left over; ``merged_mask [B]`` (false when
      nothing was left over).
    - ``scores [B, N]``: every input token's score (``-inf`` where the input mask is false); ``kept [B, N]``.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    merged: torch.Tensor
    merged_mask: torch.Tensor
    scores: torch.Tensor
    kept: torch.Tensor


def key_token_scores(tokens: torch.Tensor, mask: torch.Tensor, text: torch.Tensor,
                     text_mask: torch.Tensor) -> torch.Tensor:
    r""":math:`s_n = \cos(x_n, \bar x) + \cos(x_n, \bar w)` for the image tokens :math:`x_n` of a study, with
    :math:`\bar x` the mean of its real image tokens and :math:`\bar w` the mean of the real tokens of the study's
    own report (row ``b`` of ``text``); ``-inf`` where ``mask`` is false.

    Args: ``tokens [B, N, D]``, ``mask [B, N]``; ``text [B, T, D]``, ``text_mask [B, T]``. Returns ``[B, N]``.
    """
    image_mean = masked_mean(tokens, mask, dim=1).unsqueeze(1)
    text_mean = masked_mean(text, text_mask.bool(), dim=1).unsqueeze(1)
    scores = F.cosine_similarity(tokens, image_mean, dim=-1) + F.cosine_similarity(tokens, text_mean, dim=-1)
    return scores.masked_fill(~mask, float("-inf"))


@torch.no_grad()
def _keep_order(scores: torch.Tensor, mask: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Token order by descending score (absent tokens last) and how many each study keeps:
    :math:`\\lceil \\text{fraction}\\cdot n_b \\rceil` of its :math:`n_b` real tokens."""
    order = scores.argsort(dim=1, descending=True, stable=True)
    n_real = mask.sum(dim=1)
    keep = torch.ceil(fraction * n_real.double()).long().clamp(min=1).minimum(n_real)
    return order, keep


def select_key_tokens(tokens: torch.Tensor, mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                      fraction: float = 0.8) -> KeyTokens:
    r"""F-L's key-semantics selection over the tokens of both views of each study.

    Scores come from :func:`key_token_scores` (without gradient, as in F-L's code). Each study keeps its top
    ``fraction`` of real tokens; the rest are merged into one token :math:`\sum_n \operatorname{softmax}(s)_n x_n`
    over the left-over tokens. Study ``b``'s selection depends on its own image tokens and its own report only
    (F-L's code scored every image against the last report of the batch).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"key fraction must be in (0, 1], got {fraction}")
    mask = mask.bool()
    with torch.no_grad():
        scores = key_token_scores(tokens, mask, text, text_mask)
    order, keep = _keep_order(scores, mask, fraction)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1], device=order.device)
                                           .expand_as(order))
    kept = mask & (rank < keep.unsqueeze(1))
    rest = mask & ~kept
    k_max = int(keep.max()) if keep.numel() else 0
    top = order[:, :k_max]
    key = tokens.gather(1, top.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    key_mask = torch.arange(k_max, device=tokens.device).unsqueeze(0) < keep.unsqueeze(1)
    merge = masked_softmax(scores.masked_fill(~mask, 0.0), rest, dim=1)
    merged = (merge.unsqueeze(-1) * tokens).sum(dim=1)
    return KeyTokens(key, key_mask, merged, rest.any(dim=1), scores, kept)


class TokenAggregation(nn.Module):
    r"""Learned aggregation of ``N`` tokens into a fixed ``num_tokens``: :math:`A = \operatorname{softmax}_n(
    \text{MLP}(\text{LN}(x)))` (``[B, N, M]``, absent tokens get 0), output :math:`A^\top x` (``[B, M, D]``)."""

    def __init__(self, dim: int, num_tokens: int, hidden_ratio: float = 0.2):
        super().__init__()
        if num_tokens < 1:
            raise ValueError(f"aggregated tokens must be >= 1, got {num_tokens}")
        hidden = max(1, int(dim * hidden_ratio))
        self.weights = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                     nn.Linear(hidden, num_tokens))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = masked_softmax(self.weights(tokens), mask.bool().unsqueeze(-1), dim=1)
        return weights.transpose(1, 2) @ tokens


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


class MLMHead(nn.Module):
    """Linear → GELU → LayerNorm → Linear to the vocabulary (BERT's prediction head)."""

    def __init__(self, dim: int, vocab_size: int):
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.decoder = nn.Linear(dim, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))


def lateral_adapter(in_dim: int, dim: int) -> nn.Module:
    """Per-token map of the lateral encoder's tokens to the shared width: LN → Linear → GELU → Linear. It ends in
    no softmax over tokens: F-L's code did, which made the mean-pooled lateral vector the constant 1/49."""
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
