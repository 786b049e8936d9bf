"""F-L's frontal-lateral alignment (FLA): the report's tokens read each view through one shared query decoder
(in the model, :class:`cxrvlp.methods.fl_modules.QueryDecoder`); the two readings of a token must match."""
from __future__ import annotations

import torch
from torch import nn

from cxrvlp.layers.masked import l2_normalise
from cxrvlp.objectives.global_mean import global_mean
from cxrvlp.objectives.token_alignment import weighted_token_contrast


class FrontalLateralAlignmentLoss(nn.Module):
    r"""Token-wise symmetric contrast inside each study that has a lateral view.

    With :math:`q^F_i, q^L_i` the L2-normalised decoder outputs of report token :math:`i` over the frontal patches
    and over the lateral tokens, :math:`S_{ij} = q^F_i \cdot q^L_j / \tau` over the real (non-padding) tokens of
    the study, and

    .. math:: \mathcal L_{fla} = \frac{1}{|S|}\sum_{b \in S}\frac{1}{n_b}\sum_{i}
              \tfrac12\big[\operatorname{CE}_j(S^b_{i\cdot}, i) + \operatorname{CE}_j(S^b_{\cdot i}, i)\big]

    averaged over the :math:`n_b` real tokens of each study and over the studies :math:`S` with a lateral view in
    the global batch (:func:`global_mean`; the inputs hold those studies only, so their count may differ between
    processes). Padding tokens are neither anchors nor negatives. F-L: :math:`\tau = 0.07`.
    """

    def __init__(self, temperature: float = 0.07):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, frontal_queries: torch.Tensor, lateral_queries: torch.Tensor,
                token_mask: torch.Tensor) -> torch.Tensor:
        """``frontal_queries``, ``lateral_queries``: ``[L, T, D]`` for the ``L`` studies with a lateral view;
        ``token_mask``: ``[L, T]`` (true = real token). Returns a scalar."""
        if frontal_queries.shape != lateral_queries.shape or token_mask.shape != frontal_queries.shape[:2]:
            raise ValueError(f"frontal {tuple(frontal_queries.shape)} and lateral {tuple(lateral_queries.shape)} "
                             f"queries must match, with a [L, T] token mask (got {tuple(token_mask.shape)})")
        mask = token_mask.bool()
        n = frontal_queries.shape[0]
        if n == 0:
            return global_mean(frontal_queries.sum() + lateral_queries.sum(), 0)
        weights = mask.float() / mask.sum(dim=1, keepdim=True).clamp_min(1)
        mean_over_studies = weighted_token_contrast(l2_normalise(frontal_queries, dim=-1),
                                                    l2_normalise(lateral_queries, dim=-1), mask, weights,
                                                    self.temperature)
        return global_mean(mean_over_studies * n, n)
