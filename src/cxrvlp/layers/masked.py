"""Reductions over the real entries of padded token sets (a mask, true = real)."""
from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over the positions of ``dim`` where ``mask`` (``x.shape`` without the last dim) is true."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim) / m.sum(dim).clamp_min(1.0)


def masked_softmax(x: torch.Tensor, mask: torch.Tensor | None, dim: int) -> torch.Tensor:
    """``softmax(x)`` along ``dim`` over the entries where ``mask`` is true (masked entries get exactly 0).

    Masked entries are filled with the dtype's finite minimum rather than -inf, so a fully masked row softmaxes to a
    uniform row instead of NaN (callers mask such rows out).
    """
    if mask is None:
        return x.softmax(dim)
    return x.masked_fill(~mask, torch.finfo(x.dtype).min).softmax(dim)


def l2_normalise(x: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """``F.normalize`` computed in float32 (at least): in float16 the ``eps`` underflows to 0, so an all-zero row
    (an absent lateral view, a padding token) divides 0 by 0 and its gradient is NaN. Under autocast the result
    goes back to 16 bits in the next matrix product."""
    return torch.nn.functional.normalize(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x, dim=dim,
                                         eps=eps)
