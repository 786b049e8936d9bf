"""Cross-modal attention between token sets (words ↔ image regions), shared by GLoRIA, MGCA and LIMITR.

Shapes broadcast over the leading dimensions, so one call serves both uses:

- within each study: ``query [B, Q, D]`` and ``context [B, C, D]`` give ``[B, Q, D]``;
- all pairs of a batch: ``query [Bt, 1, Q, D]`` and ``context [1, Bi, C, D]`` give ``[Bt, Bi, Q, D]``.
"""
from __future__ import annotations

import torch


def masked_softmax(x: torch.Tensor, mask: torch.Tensor | None, dim: int) -> torch.Tensor:
    """``softmax(x)`` along ``dim`` over the entries where ``mask`` is true (masked entries get exactly 0).

    Masked entries are filled with the dtype's finite minimum rather than -inf, so a fully masked row softmaxes to a
    uniform row instead of NaN (callers mask such rows out).
    """
    if mask is None:
        return x.softmax(dim)
    return x.masked_fill(~mask, torch.finfo(x.dtype).min).softmax(dim)


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
