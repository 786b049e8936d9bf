"""F-L's own pieces (Gong et al., IEEE TMI 2026): key-token selection, the aggregated token count and the lateral
adapter. The blocks it shares with other methods (token aggregation, query decoder, MLM head) are in
:mod:`cxrvlp.layers`."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.layers.masked import masked_mean, masked_softmax


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


def aggregated_token_count(num_tokens: int, key_fraction: float, ratio: float) -> int:
    r"""How many tokens F-L's learned aggregation makes of a study's ``num_tokens`` tokens (both views): ``ratio``
    of the :math:`k = \lceil \text{key\_fraction}\cdot N \rceil` key tokens that :func:`select_key_tokens` keeps,
    rounded down, at least 1: :math:`\max(1, \lfloor \text{ratio}\cdot k \rfloor)`.

    F-L's code: key fraction 0.8, ratio 0.7, so 245 tokens (196 frontal patches + 49 lateral tokens) → 196 kept →
    137. Its code computes ``int(392 * 0.7 * 0.8)`` = 219 from a constant 392 instead of the real token count,
    and truncates the product of both ratios; here the ratio applies to the kept count itself (the same for 245
    tokens), with a 1e-9 tolerance so that e.g. 0.7 · 90 = 62.999… gives 63.
    """
    if num_tokens < 1:
        raise ValueError(f"num_tokens must be >= 1, got {num_tokens}")
    if not 0.0 < key_fraction <= 1.0:
        raise ValueError(f"key fraction must be in (0, 1], got {key_fraction}")
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"aggregation ratio must be in (0, 1], got {ratio}")
    kept = min(num_tokens, max(1, math.ceil(key_fraction * num_tokens)))  # as _keep_order
    return max(1, math.floor(ratio * kept + 1e-9))


def lateral_adapter(in_dim: int, dim: int) -> nn.Module:
    """Per-token map of the lateral encoder's tokens to the shared width: LN → Linear → GELU → Linear. It ends in
    no softmax over tokens: F-L's code did, which made the mean-pooled lateral vector the constant 1/49."""
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
