"""Masked language modelling loss over the masked report positions only (F-L's key-semantics MLM)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.objectives.global_mean import global_mean


class MaskedLMLoss(nn.Module):
    r""":math:`\mathcal L_{mlm} = -\frac{1}{|M|}\sum_{m\in M}\log p(w_m \mid \tilde t, v)`: cross-entropy of the
    vocabulary logits at the masked positions :math:`M` of the global batch (counts differ between processes:
    :func:`global_mean`). The model gives the logits of the masked positions only, which saves a
    ``[B, T, vocab]`` tensor."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``logits``: ``[M, vocab]``; ``targets``: ``[M]`` token ids. Returns a scalar."""
        if logits.ndim != 2 or targets.shape != logits.shape[:1]:
            raise ValueError(f"masked LM expects logits [M, vocab] and targets [M], got {tuple(logits.shape)} and "
                             f"{tuple(targets.shape)}")
        return global_mean(F.cross_entropy(logits.float(), targets, reduction="sum"), targets.numel())
