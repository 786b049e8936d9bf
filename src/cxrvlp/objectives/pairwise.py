"""Symmetric image-report contrast over a learned pairwise score (GLoRIA / LIMITR local terms), across processes.

A local score :math:`Z(t, v)` needs the tokens of both the report and the image, so each process scores its own
reports against every image of the global batch and its own images against every report (token sets gathered with
gradients, padded to a common length). The mean over processes then equals the single-process loss on the
concatenated batch.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from cxrvlp import distributed

ScoreFn = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor]], torch.Tensor]


def gather_padded(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """:func:`distributed.gather_with_grad` for tensors whose size along ``dim`` differs between processes
    (reports padded to their own longest); pads with zeros (False for masks) to the largest size first."""
    if not distributed.is_distributed():
        return x
    if x.dtype == torch.bool:
        return gather_padded(x.to(torch.uint8), dim).bool()
    size = torch.tensor([x.shape[dim]], device=x.device)
    longest = int(distributed.gather_with_grad(size).max())
    if longest > x.shape[dim]:
        pad = [0, 0] * (x.ndim - 1 - dim % x.ndim) + [0, longest - x.shape[dim]]
        x = F.pad(x, pad)
    return distributed.gather_with_grad(x)


def symmetric_pair_loss(score: ScoreFn, texts: Sequence[torch.Tensor], images: Sequence[torch.Tensor],
                        scale: float) -> torch.Tensor:
    r"""Report→image plus image→report cross-entropy over the pairwise scores of the (global) batch.

    ``score(texts, images)`` maps ``Bt`` reports and ``Bi`` images (each a tuple of tensors with the batch first)
    to ``[K, Bt, Bi]`` scores, ``K`` independent score kinds (e.g. LIMITR's word- and region-attention scores).
    With :math:`s = \text{scale}\cdot Z` and the diagonal as the target,

    .. math:: \mathcal L = \frac1K \sum_k \big[\operatorname{CE}(s_k) + \operatorname{CE}(s_k^\top)\big]

    (GLoRIA and LIMITR sum the two directions). Each term is averaged over the rows of this process.
    """
    n = texts[0].shape[0]
    if not distributed.is_distributed():
        s = scale * score(texts, images)
        labels = torch.arange(n, device=s.device).expand(s.shape[0], n)
        return F.cross_entropy(s.transpose(1, 2), labels) + F.cross_entropy(s, labels)
    all_texts = [gather_padded(t) for t in texts]
    all_images = [gather_padded(v) for v in images]
    text_rows = scale * score(texts, all_images)  # [K, n, B]: this process's reports against every image
    image_rows = scale * score(all_texts, images).transpose(1, 2)  # [K, n, B]
    labels = (torch.arange(n, device=text_rows.device) + distributed.rank() * n).expand(text_rows.shape[0], n)
    return F.cross_entropy(text_rows.transpose(1, 2), labels) + F.cross_entropy(image_rows.transpose(1, 2), labels)
