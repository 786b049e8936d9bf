"""Masked image modelling loss: mean squared error of the predicted pixels of the hidden patches only (MAE)."""
from __future__ import annotations

import torch
from torch import nn

from cxrvlp.objectives.global_mean import global_mean


class MaskedPatchLoss(nn.Module):
    r""":math:`\mathcal L_{mim} = \frac{1}{|H|}\sum_{(b, n) \in H} \frac{1}{P}\lVert \hat x_{bn} - x_{bn} \rVert^2`
    over the hidden patches :math:`H` of the global batch (``mask`` true), with :math:`x` the target pixels of a
    patch (MAE: normalised per patch) and :math:`P` their number. Visible patches take no part: changing their
    target changes nothing."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``pred``, ``target``: ``[B, N, P]``; ``mask``: ``[B, N]`` (true = hidden). Returns a scalar."""
        if pred.shape != target.shape or mask.shape != pred.shape[:2]:
            raise ValueError(f"masked patch loss expects pred and target [B, N, P] and mask [B, N], got "
                             f"{tuple(pred.shape)}, {tuple(target.shape)}, {tuple(mask.shape)}")
        mask = mask.bool()
        per_patch = (pred.float() - target.float()).square().mean(-1)
        return global_mean(per_patch.masked_fill(~mask, 0.0).sum(), mask.sum())
