"""LIMITR's local image-report loss (Dawidowicz et al., ICCV 2023): GLoRIA-style word/region attention in both
directions, scored through similarity-attention filtration (SAF, after SGRAF, Diao et al., AAAI 2021).

The global term is GLoRIA's (``infonce``, temperature 0.1, weight 2); the multi-view fusion (mean global,
concatenated frontal + lateral regions with a shared positional encoding) lives in the model
(:mod:`cxrvlp.methods.multiview`), which gives this loss the fused regions and their mask.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cxrvlp.layers.attention import cross_attention
from cxrvlp.layers.masked import l2_normalise, masked_mean, masked_softmax
from cxrvlp.objectives.pairwise import symmetric_pair_loss


class SimilarityAttentionFiltration(nn.Module):
    r"""Pool local similarity vectors ``[..., L, D]`` into one L2-normalised vector ``[..., D]``.

    .. math:: \alpha = \operatorname{softmax}_l\big(W_c [\tanh(W_l s_l) \odot \tanh(W_g \bar s)]\big),\qquad
              \text{out} = \operatorname{normalise}\Big(\sum_l \alpha_l s_l\Big)

    where :math:`\bar s` is the mean over the real positions (``mask``) and dropout follows each tanh. Padded
    positions get :math:`\alpha = 0`.
    """

    def __init__(self, dim: int, dropout: float = 0.4):
        super().__init__()
        self.local = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Dropout(dropout))
        self.pooled = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Dropout(dropout))
        self.common = nn.Linear(dim, 1)
        for layer in (self.local[0], self.pooled[0], self.common):  # SGRAF's Xavier-uniform init
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, sims: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean = masked_mean(sims, mask, dim=-2)
        logits = self.common(self.local(sims) * self.pooled(mean).unsqueeze(-2)).squeeze(-1)
        alpha = masked_softmax(logits, mask, dim=-1)
        return l2_normalise((alpha.unsqueeze(-1) * sims).sum(-2), dim=-1, eps=1e-8)


class LimitrLocalLoss(nn.Module):
    r"""LIMITR local loss over every report/image pair of the (global) batch.

    For report :math:`t` (words :math:`e_w`) and image :math:`v` (regions :math:`v_r`, frontal and lateral):

    - word attention: each word attends over the regions (:func:`cross_attention`, normalised over words,
      scale :math:`\gamma_1`), context :math:`c_w`; local similarities :math:`s_w = \operatorname{normalise}(c_w
      \odot e_w)`; :math:`Z^{t}(t, v) = \sigma(u_t^\top \operatorname{SAF}(\{s_w\}))`;
    - region attention: each region attends over the words, context :math:`c_r`;
      :math:`s_r = \operatorname{normalise}(c_r \odot v_r)`; :math:`Z^{v}(t, v) = \sigma(u_v^\top
      \operatorname{SAF}(\{s_r\}))` over the available regions only (absent laterals are masked);

    .. math:: \mathcal L = \tfrac12 \sum_{Z \in \{Z^t, Z^v\}} \big[\operatorname{CE}(\gamma_3 Z)
              + \operatorname{CE}(\gamma_3 Z^\top)\big]

    with one SAF module shared by both directions (as LIMITR). :math:`\gamma_1 = 4`, :math:`\gamma_3 = 10`.
    A study whose report has no word (or whose image has no region) takes no part: its scores would come from
    padding alone, so its report and image are neither queries nor candidates, and each cross-entropy is averaged
    over the studies that do take part (:func:`symmetric_pair_loss` with ``valid``).

    Differences from LIMITR's code: absent laterals are masked instead of filled with 1e-8 regions, the pooled
    similarity of a two-view study averages both views (LIMITR's code averages the lateral view only), and studies
    with an empty report are left out.

    Args:
        dim: width of the word and region embeddings. attention_scale: :math:`\gamma_1`.
        match_scale: :math:`\gamma_3`. dropout: SAF dropout (LIMITR 0.4).
    """

    def __init__(self, dim: int, attention_scale: float = 4.0, match_scale: float = 10.0, dropout: float = 0.4):
        super().__init__()
        if dim < 1 or attention_scale <= 0 or match_scale <= 0 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"need dim >= 1, attention_scale > 0, match_scale > 0, 0 <= dropout < 1; got {dim}, "
                             f"{attention_scale}, {match_scale}, {dropout}")
        self.filtration = SimilarityAttentionFiltration(dim, dropout)
        self.word_head = nn.Linear(dim, 1)
        self.region_head = nn.Linear(dim, 1)
        self.attention_scale, self.match_scale = attention_scale, match_scale

    def pair_scores(self, words: torch.Tensor, word_mask: torch.Tensor, regions: torch.Tensor,
                    region_mask: torch.Tensor) -> torch.Tensor:
        """``[2, Bt, Bi]``: the word-attention and region-attention scores :math:`Z^t, Z^v` of every pair."""
        w, wm = words.unsqueeze(1), word_mask.unsqueeze(1)  # [Bt, 1, W, D]
        r, rm = regions.unsqueeze(0), region_mask.unsqueeze(0)  # [1, Bi, N, D]
        word_ctx, _ = cross_attention(w, r, self.attention_scale, query_mask=wm, context_mask=rm,
                                      normalise_over_queries=True)
        region_ctx, _ = cross_attention(r, w, self.attention_scale, query_mask=rm, context_mask=wm,
                                        normalise_over_queries=True)
        word_sims = l2_normalise(word_ctx * w, dim=-1, eps=1e-8)  # [Bt, Bi, W, D]
        region_sims = l2_normalise(region_ctx * r, dim=-1, eps=1e-8)  # [Bt, Bi, N, D]
        z_words = self.word_head(self.filtration(word_sims, wm.expand(word_sims.shape[:-1]))).squeeze(-1)
        z_regions = self.region_head(self.filtration(region_sims, rm.expand(region_sims.shape[:-1]))).squeeze(-1)
        return torch.stack([z_words, z_regions]).sigmoid()

    def _scores(self, texts: Sequence[torch.Tensor], images: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.pair_scores(*texts, *images)

    def forward(self, regions: torch.Tensor, region_mask: torch.Tensor, words: torch.Tensor,
                word_mask: torch.Tensor) -> torch.Tensor:
        """``regions [B, N, D]`` (frontal + lateral), ``region_mask [B, N]``, ``words [B, W, D]``, ``word_mask
        [B, W]``. Returns a scalar."""
        # symmetric_pair_loss averages the two score kinds: 1/2 [CE + CE^T]_t + 1/2 [CE + CE^T]_v
        word_mask, region_mask = word_mask.bool(), region_mask.bool()
        studies = word_mask.any(dim=1) & region_mask.any(dim=1)
        return symmetric_pair_loss(self._scores, (words, word_mask), (regions, region_mask), self.match_scale,
                                   studies)
