"""MGCA's cross-modal token alignment (CTA; Wang et al., NeurIPS 2022, Sec. 3.3): words and patches of one study."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.layers.attention import cross_attention
from cxrvlp.layers.masked import l2_normalise
from cxrvlp.objectives.global_mean import global_mean


def clipped_weights(attention: torch.Tensor | None, mask: torch.Tensor, low: float = 0.1,
                    high: float = 0.9) -> torch.Tensor:
    """Token weights ``[B, N]`` from [CLS] attention: each row clipped to its ``low``-``high`` quantiles over the
    real tokens (``mask``), padding set to 0, renormalised to sum to 1. ``attention=None`` gives uniform weights over
    the real tokens (MGCA's ResNet patches). Quantiles interpolate linearly, as ``torch.quantile``."""
    mask = mask.bool()
    if attention is None:
        w = mask.float()
    else:
        a = attention.detach().to(torch.promote_types(attention.dtype, torch.float32))
        real = a.masked_fill(~mask, float("nan"))
        lo = torch.nanquantile(real, low, dim=1, keepdim=True)
        hi = torch.nanquantile(real, high, dim=1, keepdim=True)
        w = torch.minimum(torch.maximum(a, lo), hi).masked_fill(~mask, 0.0).nan_to_num(0.0)
    return w / w.sum(dim=1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)


def token_contrast_per_study(tokens: torch.Tensor, contexts: torch.Tensor, mask: torch.Tensor,
                             weights: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Contrast each token with its own attended context against the other tokens of the same study.

    :math:`s_{ij} = x_i \cdot c_j / \tau` within a study; :math:`\ell_i = \tfrac12[\operatorname{CE}_j(s_{i\cdot}, i)
    + \operatorname{CE}_j(s_{\cdot i}, i)]` over the real tokens (``mask``); returns ``[B]``: :math:`\sum_i w_{bi}\,
    \ell_{bi}` for each study :math:`b` (0 for a study without real tokens).
    """
    sim = tokens @ contexts.transpose(1, 2) / temperature  # [B, N, N]
    pair_mask = mask.unsqueeze(1) & mask.unsqueeze(2)
    sim = sim.masked_fill(~pair_mask, torch.finfo(sim.dtype).min)
    target = torch.arange(sim.shape[1], device=sim.device).expand(sim.shape[0], -1)
    rows = F.cross_entropy(sim.transpose(1, 2), target, reduction="none")  # token i vs the contexts
    cols = F.cross_entropy(sim, target, reduction="none")  # context i vs the tokens
    per_token = 0.5 * (rows + cols) * mask
    return (weights * per_token).sum(dim=1)


def weighted_token_contrast(tokens: torch.Tensor, contexts: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor,
                            temperature: float) -> torch.Tensor:
    r""":math:`\frac1B \sum_b \sum_i w_{bi}\, \ell_{bi}` over the ``B`` studies (:func:`token_contrast_per_study`;
    weights sum to 1 per study)."""
    return token_contrast_per_study(tokens, contexts, mask, weights, temperature).sum() / tokens.shape[0]


class TokenAlignmentLoss(nn.Module):
    r"""MGCA CTA: word-to-patch plus patch-to-word alignment inside each image-report pair.

    With L2-normalised words :math:`w_i` and patches :math:`p_j` of one study, each word attends over the patches,
    :math:`c_i = \operatorname{normalise}(\sum_j \operatorname{softmax}_j(w_i \cdot p_j/\tau)\, p_j)`, and is
    contrasted with its own context against the contexts of the other words of the report
    (:func:`weighted_token_contrast`, both directions); symmetrically each patch attends over the words. Word
    weights are the last-layer [CLS] attention to each word, patch weights the ViT [CLS] attention (uniform for
    CNN grids), both clipped to their 10-90 % quantiles and renormalised (:func:`clipped_weights`).

    .. math:: \mathcal L = \frac{1}{|S|}\sum_{b \in S}\big[\mathcal L^b_{\text{word}}
              + \mathcal L^b_{\text{patch}}\big]

    where :math:`S` are the studies of the (global) batch whose report has a real word and whose image a real
    patch: a study whose report is empty (``word_mask`` all false) takes no part, neither through its words nor
    through its patches (which would otherwise attend to padding), and the mean is over the studies that do
    (:func:`global_mean`, so processes may hold different numbers of them).

    Differences from MGCA's code: padding words are masked out as negatives and as attention targets (MGCA lets
    the words of the word-to-patch term see padding), patch contexts are normalised for ViT too, and studies with
    an empty report are left out (MGCA averages over the batch).

    Args:
        temperature: :math:`\tau` (MGCA 0.1) of both the attention and the contrast.
        quantiles: (low, high) clipping quantiles of the attention weights.
        bidirectional: add the patch-to-word term (MGCA default True).
    """

    def __init__(self, temperature: float = 0.1, quantiles: tuple[float, float] = (0.1, 0.9),
                 bidirectional: bool = True):
        super().__init__()
        low, high = (float(q) for q in quantiles)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"quantiles must satisfy 0 <= low <= high <= 1, got {quantiles}")
        self.temperature, self.quantiles, self.bidirectional = temperature, (low, high), bidirectional

    def _direction(self, tokens, token_mask, token_attn, others, other_mask) -> torch.Tensor:
        """``[B]``: each study's weighted token contrast in one direction."""
        context, _ = cross_attention(tokens, others, 1.0 / self.temperature, context_mask=other_mask)
        weights = clipped_weights(token_attn, token_mask, *self.quantiles)
        return token_contrast_per_study(tokens, l2_normalise(context, dim=-1), token_mask, weights, self.temperature)

    def forward(self, regions: torch.Tensor, region_mask: torch.Tensor, region_attn: torch.Tensor | None,
                words: torch.Tensor, word_mask: torch.Tensor, word_attn: torch.Tensor | None) -> torch.Tensor:
        """``regions [B, N, D]``, ``region_mask [B, N]``, ``region_attn [B, N]`` or None (uniform), ``words
        [B, W, D]``, ``word_mask [B, W]``, ``word_attn [B, W]`` or None (uniform). Returns a scalar."""
        regions, words = l2_normalise(regions, dim=-1), l2_normalise(words, dim=-1)
        region_mask, word_mask = region_mask.bool(), word_mask.bool()
        per_study = self._direction(words, word_mask, word_attn, regions, region_mask)
        if self.bidirectional:
            per_study = per_study + self._direction(regions, region_mask, region_attn, words, word_mask)
        studies = word_mask.any(dim=1) & region_mask.any(dim=1)
        return global_mean(torch.where(studies, per_study, 0.0).sum(), studies.sum())
