"""MGCA's cross-modal prototype alignment (CPA; Wang et al., NeurIPS 2022, Sec. 3.4): swapped prototype prediction."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.layers.masked import l2_normalise
from cxrvlp.objectives.sinkhorn import sinkhorn_knopp


class PrototypeAlignmentLoss(nn.Module):
    r"""Image and report embeddings predict each other's prototype assignment.

    With L2-normalised embeddings :math:`\hat v, \hat t` and :math:`K` learnable prototypes :math:`c_k` (rows of a
    bias-free linear layer, L2-normalised in the forward pass), the scores are :math:`s^v = \hat v C^\top`,
    :math:`s^t = \hat t C^\top`; the codes :math:`q^v, q^t` are the Sinkhorn-Knopp assignments of the scores
    (:func:`sinkhorn_knopp`, :math:`\varepsilon`, ``iterations``; distributed) and the predictions are
    :math:`p = \operatorname{softmax}(s/\tau)`:

    .. math:: \mathcal L = \tfrac12\Big[-\tfrac1B\sum_i \sum_k q^v_{ik}\log p^t_{ik}
                                          -\tfrac1B\sum_i \sum_k q^t_{ik}\log p^v_{ik}\Big]

    MGCA: :math:`K = 500`, :math:`\varepsilon = 0.05`, 3 iterations, :math:`\tau = 0.2`, prototypes frozen during
    the first epoch (:meth:`frozen_parameters`, applied by the model after each backward pass). MGCA renormalises
    the prototype weights in place before each step; here the normalisation is part of the forward pass, so no
    state changes outside the optimiser (and none during validation).

    Args:
        dim: embedding width (the model's projection ``dim``).
        num_prototypes: :math:`K`. epsilon: Sinkhorn :math:`\varepsilon`. iterations: Sinkhorn iterations.
        temperature: :math:`\tau` of the predictions. freeze_epochs: epochs during which the prototypes get no update.
    """

    def __init__(self, dim: int, num_prototypes: int = 500, epsilon: float = 0.05, iterations: int = 3,
                 temperature: float = 0.2, freeze_epochs: int = 1):
        super().__init__()
        if dim < 1 or num_prototypes < 2:
            raise ValueError(f"need dim >= 1 and num_prototypes >= 2, got {dim}, {num_prototypes}")
        if epsilon <= 0 or temperature <= 0 or iterations < 1 or freeze_epochs < 0:
            raise ValueError(f"need epsilon > 0, temperature > 0, iterations >= 1, freeze_epochs >= 0; got "
                             f"{epsilon}, {temperature}, {iterations}, {freeze_epochs}")
        self.prototypes = nn.Linear(dim, num_prototypes, bias=False)
        self.epsilon, self.iterations = epsilon, iterations
        self.temperature, self.freeze_epochs = temperature, freeze_epochs

    def frozen_parameters(self, epoch: int) -> list[nn.Parameter]:
        """Parameters whose gradients are dropped in ``epoch`` (0-based)."""
        return list(self.prototypes.parameters()) if epoch < self.freeze_epochs else []

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``image``, ``text``: ``[B, dim]`` embeddings of paired studies (normalised here). Returns a scalar."""
        if image.shape != text.shape or image.shape[-1] != self.prototypes.in_features:
            raise ValueError(f"prototype alignment expects image and text [B, {self.prototypes.in_features}], got "
                             f"{tuple(image.shape)} and {tuple(text.shape)} (set the objective's dim to the "
                             "projection dim)")
        protos = l2_normalise(self.prototypes.weight, dim=-1)
        s_img = l2_normalise(image, dim=-1) @ protos.T
        s_txt = l2_normalise(text, dim=-1) @ protos.T
        q_img = sinkhorn_knopp(s_img.detach(), self.epsilon, self.iterations)
        q_txt = sinkhorn_knopp(s_txt.detach(), self.epsilon, self.iterations)
        logp_img = F.log_softmax(s_img / self.temperature, dim=-1)
        logp_txt = F.log_softmax(s_txt / self.temperature, dim=-1)
        return -0.5 * ((q_img * logp_txt).sum(-1).mean() + (q_txt * logp_img).sum(-1).mean())
