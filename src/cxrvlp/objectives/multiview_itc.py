"""F-L's global image-text contrast over the frontal, lateral and fused image embeddings (Sec. "Global ITC")."""
from __future__ import annotations

import torch

from cxrvlp import distributed
from cxrvlp.objectives.global_mean import global_mean
from cxrvlp.objectives.infonce import InfoNCELoss, pair_logits, symmetric_contrast


class MaskedInfoNCELoss(InfoNCELoss):
    r""":class:`InfoNCELoss` over the studies of the global batch where ``mask`` is true (e.g. those with a lateral
    view): the other studies are neither queries nor candidates. With :math:`S` the selected studies,

    .. math:: \mathcal L = \frac{1}{|S|}\sum_{i \in S} \Big[-\lambda\log\frac{e^{s_{ii}}}{\sum_{j\in S}e^{s_{ij}}}
              - (1-\lambda)\log\frac{e^{s_{ii}}}{\sum_{j\in S}e^{s_{ji}}}\Big]

    Processes may select different numbers of studies; embeddings and masks are gathered and the mean is taken over
    the global selection (:func:`global_mean`). ``mask=None`` (or all true) is :class:`InfoNCELoss`.
    """

    def forward(self, image: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``image``, ``text``: ``[B, D]``; ``mask``: ``[B]`` bool or None. Returns a scalar."""
        if mask is None:
            return super().forward(image, text)
        if image.shape != text.shape or mask.shape != image.shape[:1]:
            raise ValueError(f"image {tuple(image.shape)}, text {tuple(text.shape)} and mask {tuple(mask.shape)} "
                             "must be [B, D], [B, D] and [B]")
        mask = mask.bool()
        all_mask = distributed.gather_with_grad(mask.float()) > 0.5
        per_study = symmetric_contrast(pair_logits(image, text, self.logit_scale()), self.weight,
                                       column_mask=all_mask)
        return global_mean(per_study.masked_fill(~mask, 0.0).sum(), mask.sum())


class MultiViewITCLoss(MaskedInfoNCELoss):
    r"""F-L global ITC with one temperature for its three terms:

    .. math:: \mathcal L_{itc} = \tfrac12\big[L(v^f, t) + L_{S}(v^l, t)\big] + L(v^{fl}, t)

    where :math:`L` is the symmetric InfoNCE (:math:`\lambda = 0.5`, F-L: fixed :math:`\tau = 0.1`), :math:`v^f`
    the frontal, :math:`v^l` the lateral and :math:`v^{fl}` the fused embedding, and :math:`L_S` runs over the
    studies that have a lateral view only (:class:`MaskedInfoNCELoss`); single-view studies take part in the
    frontal and fused terms.
    """

    def forward(self, frontal: torch.Tensor, lateral: torch.Tensor, lateral_mask: torch.Tensor,
                fused: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``frontal``, ``lateral``, ``fused``, ``text``: ``[B, D]``; ``lateral_mask``: ``[B]``. Scalar."""
        views = super().forward(frontal, text) + super().forward(lateral, text, lateral_mask)
        return 0.5 * views + super().forward(fused, text)
