"""F-L's high-order semantic alignment (HSA): report-derived prototype codes predicted from both image views."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cxrvlp.layers.masked import l2_normalise
from cxrvlp.objectives.global_mean import global_mean
from cxrvlp.objectives.prototype_alignment import PrototypeAlignmentLoss
from cxrvlp.objectives.sinkhorn import sinkhorn_knopp


class HighOrderAlignmentLoss(PrototypeAlignmentLoss):
    r"""Frontal and lateral embeddings predict the report's Sinkhorn prototype assignment.

    With :math:`K` L2-normalised prototypes :math:`C` (as :class:`PrototypeAlignmentLoss`), the report codes are
    :math:`q^t = \operatorname{SinkhornKnopp}(\hat t C^\top / \varepsilon)` over the global batch (no gradient) and
    the predictions :math:`p^v = \operatorname{softmax}(\hat v C^\top / \tau)` for :math:`v \in \{f, l\}`:

    .. math:: \mathcal L_{hsa} = \tfrac12\Big[-\frac1B\sum_i \sum_k q^t_{ik}\log p^f_{ik}
              - \frac1{|S|}\sum_{i\in S}\sum_k q^t_{ik}\log p^l_{ik}\Big]

    where :math:`S` are the studies of the global batch with a lateral view. Clusters of semantically alike reports
    replace instance targets, so two studies with the same findings are not pushed apart (false negatives of
    the instance-level ITC). F-L: :math:`K = 500`, :math:`\varepsilon = 0.07`, 3 iterations, :math:`\tau = 0.1`.

    ``normalize=True`` (default) uses the L2-normalised embeddings :math:`\hat t, \hat v` as written above;
    ``normalize=False`` uses the raw ones, as F-L's formula and code (prototypes normalised in both). With raw
    embeddings the scores scale with the embedding norms, which nothing else constrains (the ITC normalises): a norm
    :math:`r` turns :math:`\varepsilon` and :math:`\tau` into :math:`\varepsilon/r` and :math:`\tau/r`, so the
    codes and predictions sharpen as the norms grow, the loss has a gradient along the norms, and
    :math:`e^{s/\varepsilon}` in F-L's code (no shift) overflows float32 once a score exceeds
    :math:`88\,\varepsilon \approx 6`.
    """

    def __init__(self, dim: int, num_prototypes: int = 500, epsilon: float = 0.07, iterations: int = 3,
                 temperature: float = 0.1, freeze_epochs: int = 1, normalize: bool = True):
        super().__init__(dim, num_prototypes, epsilon, iterations, temperature, freeze_epochs)
        self.normalize = normalize

    def _unit(self, x: torch.Tensor) -> torch.Tensor:
        return l2_normalise(x, dim=-1) if self.normalize else x

    def forward(self, frontal: torch.Tensor, lateral: torch.Tensor, lateral_mask: torch.Tensor,
                text: torch.Tensor) -> torch.Tensor:
        """``frontal``, ``lateral``, ``text``: ``[B, dim]``; ``lateral_mask``: ``[B]`` (rows of ``lateral`` where
        it is false are ignored). Returns a scalar."""
        width = self.prototypes.in_features
        if not (frontal.shape == lateral.shape == text.shape and frontal.shape[-1] == width):
            raise ValueError(f"high-order alignment expects frontal, lateral and text [B, {width}], got "
                             f"{tuple(frontal.shape)}, {tuple(lateral.shape)}, {tuple(text.shape)} (set the "
                             "objective's dim to the projection dim)")
        mask = lateral_mask.bool()
        protos = l2_normalise(self.prototypes.weight, dim=-1)
        codes = sinkhorn_knopp((self._unit(text) @ protos.T).detach(), self.epsilon, self.iterations)

        def cross_entropy(image: torch.Tensor) -> torch.Tensor:
            logp = F.log_softmax(self._unit(image) @ protos.T / self.temperature, dim=-1)
            return -(codes * logp).sum(-1)

        lateral_term = global_mean(cross_entropy(lateral).masked_fill(~mask, 0.0).sum(), mask.sum())
        return 0.5 * (cross_entropy(frontal).mean() + lateral_term)
