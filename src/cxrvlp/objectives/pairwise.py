"""Symmetric image-report contrast over a learned pairwise score (GLoRIA / LIMITR local terms), across processes.

A local score :math:`Z(t, v)` needs the tokens of both the report and the image, so each process scores its own
reports against every image of the global batch and its own images against every report (token sets gathered with
gradients, padded to a common length). The mean over processes then equals the single-process loss on the
concatenated batch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from cxrvlp import distributed
from cxrvlp.objectives.global_mean import global_mean

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


def _row_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """``[K, n]``: cross-entropy of each row of ``logits [K, n, B]`` against ``labels [n]`` (-100: the row takes no
    part, 0), over the columns where ``candidates [B]`` is true (the others are masked with the dtype's minimum,
    so they get no gradient)."""
    logits = logits.masked_fill(~candidates, torch.finfo(logits.dtype).min)
    return F.cross_entropy(logits.transpose(1, 2), labels.expand(logits.shape[0], -1), reduction="none",
                           ignore_index=-100)


def symmetric_pair_loss(score: ScoreFn, texts: Sequence[torch.Tensor], images: Sequence[torch.Tensor],
                        scale: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    r"""Report→image plus image→report cross-entropy over the pairwise scores of the (global) batch.

    ``score(texts, images)`` maps ``Bt`` reports and ``Bi`` images (each a tuple of tensors with the batch first)
    to ``[K, Bt, Bi]`` scores, ``K`` independent score kinds (e.g. LIMITR's word- and region-attention scores).
    With :math:`s = \text{scale}\cdot Z`, the diagonal as the target and :math:`S` the studies of the global batch
    where ``valid [B]`` is true (all by default),

    .. math:: \mathcal L = \frac{1}{K|S|} \sum_k \sum_{i \in S} \Big[-\log\frac{e^{s_{k,ii}}}{\sum_{j \in S}
              e^{s_{k,ij}}} - \log\frac{e^{s_{k,ii}}}{\sum_{j \in S} e^{s_{k,ji}}}\Big]

    (GLoRIA and LIMITR sum the two directions): a study outside :math:`S` (e.g. one whose report has no word) is
    neither a query nor a candidate, in either direction. The mean over :math:`S` is taken over the global batch
    (:func:`global_mean`), so the mean over processes equals the single-process loss on the concatenated batch
    also when the processes hold different numbers of valid studies.
    """
    n = texts[0].shape[0]
    if valid is None:
        valid = torch.ones(n, dtype=torch.bool, device=texts[0].device)
    valid = valid.bool()
    if not distributed.is_distributed():
        s = scale * score(texts, images)  # [K, n, n]
        text_rows, image_rows, all_valid = s, s.transpose(1, 2), valid
    else:
        all_texts = [gather_padded(t) for t in texts]
        all_images = [gather_padded(v) for v in images]
        text_rows = scale * score(texts, all_images)  # [K, n, B]: this process's reports against every image
        image_rows = scale * score(all_texts, images).transpose(1, 2)  # [K, n, B]
        all_valid = distributed.gather_with_grad(valid.float()) > 0.5
    labels = (torch.arange(n, device=text_rows.device) + distributed.rank() * n).masked_fill(~valid, -100)
    per_row = _row_cross_entropy(text_rows, labels, all_valid) + _row_cross_entropy(image_rows, labels, all_valid)
    return global_mean(per_row.sum() / per_row.shape[0], valid.sum())  # the mean over the K score kinds, then S
