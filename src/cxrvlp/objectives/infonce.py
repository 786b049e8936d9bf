"""Global image-text contrastive loss (InfoNCE), as in ConVIRT, CLIP, MGCA's ITA and F-L's global ITC."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp import distributed


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
        temperature: initial :math:`\tau`.
        learnable: learn :math:`\log(1/\tau)` (clamped so that :math:`1/\tau \le 100`), as CLIP.
        image_to_text_weight: :math:`\lambda`.
    """

    def __init__(self, temperature: float = 0.1, learnable: bool = False, image_to_text_weight: float = 0.5):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= image_to_text_weight <= 1.0:
            raise ValueError(f"image_to_text_weight must be in [0, 1], got {image_to_text_weight}")
        self.weight = image_to_text_weight
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.log_scale))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``image``, ``text``: ``[B, D]`` embeddings of paired studies (normalised here). Returns a scalar."""
        if image.shape != text.shape:
            raise ValueError(f"image {tuple(image.shape)} and text {tuple(text.shape)} embeddings must match")
        image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
        all_image, all_text = distributed.gather_with_grad(image), distributed.gather_with_grad(text)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        labels = torch.arange(image.shape[0], device=image.device) + distributed.rank() * image.shape[0]
        loss_i2t = F.cross_entropy(scale * image @ all_text.T, labels)
        loss_t2i = F.cross_entropy(scale * text @ all_image.T, labels)
        return self.weight * loss_i2t + (1.0 - self.weight) * loss_t2i
