"""Global image-text contrastive loss (InfoNCE), as in ConVIRT, CLIP, MGCA's ITA and F-L's global ITC.

Split in two so that variants are a few lines each: :func:`pair_logits` (normalise, gather across processes,
this process's rows against every column of the global batch, the column of each row's own pair) and
:func:`symmetric_contrast` (per-row cross-entropy against targets: the own pair by default, or a distribution
over the columns for soft targets, with columns left out by a mask). :class:`InfoNCELoss` is their mean;
masked (F-L's lateral term) and soft-target variants change only the targets or the masks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp import distributed
from cxrvlp.layers.masked import l2_normalise

MAX_LOGIT_SCALE = 100.0  # CLIP's bound on 1/tau


@dataclass
class PairLogits:
    """``image_to_text [n, N]``: this process's ``n`` images against the ``N`` texts of the global batch;
    ``text_to_image [n, N]`` the same for its texts; ``own [n]``: the column of each row's own pair."""

    image_to_text: torch.Tensor
    text_to_image: torch.Tensor
    own: torch.Tensor


def pair_logits(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor | float) -> PairLogits:
    r""":math:`s_{ij} = \text{scale}\cdot \hat v_i \cdot \hat t_j` for ``image``, ``text`` ``[n, D]`` (L2-normalised
    here), the columns gathered from every process with gradients."""
    if image.shape != text.shape:
        raise ValueError(f"image {tuple(image.shape)} and text {tuple(text.shape)} embeddings must match")
    image, text = l2_normalise(image, dim=-1), l2_normalise(text, dim=-1)
    all_image, all_text = distributed.gather_with_grad(image), distributed.gather_with_grad(text)
    own = torch.arange(image.shape[0], device=image.device) + distributed.rank() * image.shape[0]
    return PairLogits(scale * image @ all_text.T, scale * text @ all_image.T, own)


def cross_entropy_rows(logits: torch.Tensor, targets: torch.Tensor,
                       column_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row cross-entropy ``[n]``; ``targets``: ``[n]`` column indices or ``[n, N]`` probabilities; columns where
    ``column_mask`` (``[N]``, or ``[n, N]`` per row) is false are no candidates."""
    if column_mask is not None:
        logits = logits.masked_fill(~column_mask, torch.finfo(logits.dtype).min)
    return F.cross_entropy(logits, targets, reduction="none")


def symmetric_contrast(logits: PairLogits, image_to_text_weight: float, image_targets: torch.Tensor | None = None,
                       text_targets: torch.Tensor | None = None,
                       column_mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Per-row :math:`\lambda\,\operatorname{CE}(s_{i\cdot}, y^v_i)
    + (1-\lambda)\operatorname{CE}(s^t_{i\cdot}, y^t_i)` ``[n]``; the targets default to the own pair."""
    image_targets = logits.own if image_targets is None else image_targets
    text_targets = logits.own if text_targets is None else text_targets
    return (image_to_text_weight * cross_entropy_rows(logits.image_to_text, image_targets, column_mask)
            + (1.0 - image_to_text_weight) * cross_entropy_rows(logits.text_to_image, text_targets, column_mask))


class InfoNCELoss(nn.Module):
    r"""Cross-modal InfoNCE over all pairs of the (global) batch.

    With L2-normalised image and text embeddings :math:`\hat v_i, \hat t_j` and temperature :math:`\tau`,
    :math:`s_{ij} = \hat v_i \cdot \hat t_j / \tau` and

    .. math::
        \mathcal L = \lambda \,\frac1B\sum_i -\log \frac{e^{s_{ii}}}{\sum_j e^{s_{ij}}}
                   + (1-\lambda)\,\frac1B\sum_i -\log \frac{e^{s_{ii}}}{\sum_j e^{s_{ji}}}

    ConVIRT (Zhang et al. 2022, Eq. 2-4) uses :math:`\lambda = 0.75, \tau = 0.1`; CLIP and F-L use
    :math:`\lambda = 0.5`. In a multi-process run the columns are the embeddings of all processes (gathered with
    gradients) and each process scores its own rows, so the mean over processes equals the single-process loss
    on the concatenated batch.

    Args:
        temperature: :math:`\tau` (the initial one if learnable). A fixed :math:`\tau` must satisfy
            :math:`1/\tau \le 100` (:math:`\tau \ge 0.01`); it is used as given, never clamped.
        learnable: learn :math:`\log(1/\tau)`, clamped in the forward pass so that :math:`1/\tau \le 100`, as CLIP
            (an initial :math:`\tau < 0.01` then starts at the bound).
        image_to_text_weight: :math:`\lambda`.
    """

    def __init__(self, temperature: float = 0.1, learnable: bool = False, image_to_text_weight: float = 0.5):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= image_to_text_weight <= 1.0:
            raise ValueError(f"image_to_text_weight must be in [0, 1], got {image_to_text_weight}")
        if not learnable and 1.0 / temperature > MAX_LOGIT_SCALE:
            raise ValueError(f"fixed temperature {temperature} is below {1.0 / MAX_LOGIT_SCALE} (1/temperature must "
                             f"be <= {MAX_LOGIT_SCALE:g}); only a learnable temperature is clamped to that bound")
        self.weight, self.learnable = image_to_text_weight, learnable
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def logit_scale(self) -> torch.Tensor:
        r""":math:`1/\tau`: clamped to :data:`MAX_LOGIT_SCALE` when learnable, as given when fixed."""
        log_scale = self.log_scale.clamp(max=math.log(MAX_LOGIT_SCALE)) if self.learnable else self.log_scale
        return log_scale.exp()

    @property
    def temperature(self) -> float:
        r"""The :math:`\tau` in use (a learnable one after the clamp)."""
        return float(1.0 / self.logit_scale().detach())

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``image``, ``text``: ``[B, D]`` embeddings of paired studies (normalised here). Returns a scalar."""
        return symmetric_contrast(pair_logits(image, text, self.logit_scale()), self.weight).mean()
