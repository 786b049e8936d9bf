"""GLoRIA's local image-report loss: words attend over image sub-regions (Huang et al., ICCV 2021, Eq. 3-7).

GLoRIA's global term is the image-report InfoNCE with temperature 0.1 summed over both directions; recipes use
``infonce`` (``temperature: 0.1``, weight 2) for it rather than a second copy here.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.layers.attention import cross_attention
from cxrvlp.objectives.pairwise import symmetric_pair_loss


def word_region_similarity(words: torch.Tensor, word_mask: torch.Tensor, regions: torch.Tensor,
                           region_mask: torch.Tensor, attention_scale: float = 4.0, word_scale: float = 5.0,
                           aggregation: str = "sum") -> torch.Tensor:
    r"""GLoRIA's local score :math:`Z(t, v)` for every report/image pair: ``[Bt, Bi]``.

    Word :math:`w` of report :math:`t` attends over the regions :math:`r` of image :math:`v`
    (:func:`cross_attention`, normalised over words, :math:`\gamma_1` = ``attention_scale``), giving the visual
    context :math:`c_w = \sum_r a_{wr} v_r`; then

    .. math:: Z(t, v) = \log \sum_{w \in t} \exp\big(\gamma_2 \cos(e_w, c_w)\big)

    with :math:`\gamma_2` = ``word_scale`` (``aggregation="mean"`` subtracts :math:`\log |t|`). Padding words and
    absent regions (masks false) take no part; a report without any word scores 0 with every image (the losses
    leave such a study out).

    Args:
        words: ``[Bt, W, D]``, word_mask: ``[Bt, W]`` bool; regions: ``[Bi, N, D]``, region_mask: ``[Bi, N]`` bool.
    """
    if aggregation not in ("sum", "mean"):
        raise ValueError(f"aggregation must be 'sum' or 'mean', got {aggregation!r}")
    w, wm = words.unsqueeze(1), word_mask.unsqueeze(1)  # [Bt, 1, W, D]
    context, _ = cross_attention(w, regions.unsqueeze(0), attention_scale, query_mask=wm,
                                 context_mask=region_mask.unsqueeze(0), normalise_over_queries=True)
    cos = F.cosine_similarity(w, context, dim=-1, eps=1e-8)  # [Bt, Bi, W]
    z = (word_scale * cos).masked_fill(~wm, float("-inf")).logsumexp(dim=-1)
    if aggregation == "mean":
        z = z - word_mask.sum(dim=-1, keepdim=True).clamp_min(1).log()
    # a report without words scores 0 against every image: no signal instead of -inf / NaN
    return z.masked_fill(~word_mask.any(dim=-1, keepdim=True), 0.0)


class GloriaLocalLoss(nn.Module):
    r"""GLoRIA local loss: :math:`\mathcal L = \operatorname{CE}(\gamma_3 Z) + \operatorname{CE}(\gamma_3 Z^\top)`
    over the pairwise scores :math:`Z` of :func:`word_region_similarity`, the matching pairs as targets.

    A study whose report has no word (``word_mask`` all false; or whose image has no region) takes no part: its
    report and its image are neither queries nor candidates in either cross-entropy, and each mean is over the
    studies that do take part (:func:`symmetric_pair_loss` with ``valid``). Otherwise such a report scores 0 with
    every image and its image would be pushed away from every report.

    Paper values: :math:`\gamma_1 = 4` (attention), :math:`\gamma_2 = 5` (word aggregation), :math:`\gamma_3 = 10`
    (matching). In a multi-process run the reports and images of all processes are negatives
    (:func:`symmetric_pair_loss`).

    Args:
        attention_scale: :math:`\gamma_1`. word_scale: :math:`\gamma_2`. match_scale: :math:`\gamma_3`.
        aggregation: "sum" (paper) or "mean" over the words of a report.
    """

    def __init__(self, attention_scale: float = 4.0, word_scale: float = 5.0, match_scale: float = 10.0,
                 aggregation: str = "sum"):
        super().__init__()
        for name, v in (("attention_scale", attention_scale), ("word_scale", word_scale),
                        ("match_scale", match_scale)):
            if v <= 0:
                raise ValueError(f"{name} must be > 0, got {v}")
        if aggregation not in ("sum", "mean"):
            raise ValueError(f"aggregation must be 'sum' or 'mean', got {aggregation!r}")
        self.attention_scale, self.word_scale = attention_scale, word_scale
        self.match_scale, self.aggregation = match_scale, aggregation

    def _scores(self, texts: Sequence[torch.Tensor], images: Sequence[torch.Tensor]) -> torch.Tensor:
        return word_region_similarity(*texts, *images, attention_scale=self.attention_scale,
                                      word_scale=self.word_scale, aggregation=self.aggregation).unsqueeze(0)

    def forward(self, regions: torch.Tensor, region_mask: torch.Tensor, words: torch.Tensor,
                word_mask: torch.Tensor) -> torch.Tensor:
        """``regions [B, N, D]``, ``region_mask [B, N]``, ``words [B, W, D]``, ``word_mask [B, W]``. Scalar."""
        word_mask, region_mask = word_mask.bool(), region_mask.bool()
        studies = word_mask.any(dim=1) & region_mask.any(dim=1)
        return symmetric_pair_loss(self._scores, (words, word_mask), (regions, region_mask), self.match_scale,
                                   studies)
