"""Sparse normalisations: like a softmax over the last dimension, but most entries get exactly 0, and an entry at 0
gets no gradient (SISTA's sparse token alignment).

- :func:`sparsemax` (Martins & Astudillo, ICML 2016): the Euclidean projection of the scores onto the simplex,
  :math:`p_j = \\max(0, z_j - \\tau(z))` with :math:`\\tau` chosen so that :math:`\\sum_j p_j = 1`. The support
  size adapts to the scores; its Jacobian is zero outside the support.
- :func:`topk_softmax`: a softmax over the ``k`` largest entries of each row, 0 elsewhere.
- :func:`threshold_softmax`: a softmax over the entries whose softmax weight is at least ``threshold`` times the
  row's largest weight, renormalised over them (the selection carries no gradient).

All take ``mask`` (true = may be selected; the same shape as the scores or broadcastable); a row without any
selectable entry gives all zeros.
"""
from __future__ import annotations

import torch

from cxrvlp.layers.masked import masked_softmax


def _rows_with_entries(scores: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.expand_as(scores).bool()
    return mask, mask.any(dim=-1, keepdim=True)


def sparsemax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Sparsemax over the last dimension. With :math:`z_{(1)} \ge z_{(2)} \ge \dots` the sorted selectable scores,
    the support size is :math:`k^* = \max\{k : 1 + k z_{(k)} > \sum_{j \le k} z_{(j)}\}` and
    :math:`\tau = (\sum_{j \le k^*} z_{(j)} - 1) / k^*`."""
    mask, has_any = _rows_with_entries(scores, mask)
    z = scores.float().masked_fill(~mask, float("-inf")).masked_fill(~has_any, 0.0)
    ordered, _ = z.sort(dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumulative = ordered.cumsum(dim=-1)
    support = 1.0 + k * ordered > cumulative
    k_star = support.sum(dim=-1, keepdim=True).clamp_min(1)
    tau = (cumulative.gather(-1, k_star - 1) - 1.0) / k_star.to(z.dtype)
    out = (z - tau).clamp_min(0.0)
    return (out * (mask & has_any)).to(scores.dtype)


def topk_softmax(scores: torch.Tensor, k: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the ``k`` largest selectable entries of each row (fewer where a row has fewer)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    mask, _ = _rows_with_entries(scores, mask)
    with torch.no_grad():
        k = min(k, scores.shape[-1])
        top = scores.masked_fill(~mask, float("-inf")).topk(k, dim=-1).indices
        keep = torch.zeros_like(mask).scatter_(-1, top, True) & mask
    return masked_softmax(scores, keep, dim=-1) * keep


def threshold_softmax(scores: torch.Tensor, threshold: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the selectable entries whose weight is at least ``threshold`` (in (0, 1]) times the row's
    largest weight; equivalently the entries within ``log(1/threshold)`` of the row's maximum score."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    mask, _ = _rows_with_entries(scores, mask)
    with torch.no_grad():
        best = scores.masked_fill(~mask, float("-inf")).amax(dim=-1, keepdim=True)
        keep = mask & (scores >= best + torch.log(torch.tensor(threshold, dtype=scores.dtype)))
    return masked_softmax(scores, keep, dim=-1) * keep


SPARSE_NORMALISATIONS = ("sparsemax", "topk", "threshold")


def sparse_normalise(scores: torch.Tensor, method: str, mask: torch.Tensor | None = None, k: int = 8,
                     threshold: float = 0.5) -> torch.Tensor:
    """Dispatch to one of :data:`SPARSE_NORMALISATIONS`."""
    if method == "sparsemax":
        return sparsemax(scores, mask)
    if method == "topk":
        return topk_softmax(scores, k, mask)
    if method == "threshold":
        return threshold_softmax(scores, threshold, mask)
    raise ValueError(f"sparse normalisation must be one of {SPARSE_NORMALISATIONS}, got {method!r}")
