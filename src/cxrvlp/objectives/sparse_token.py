"""SISTA's Sparse Token-level Alignment (STA): each report word is aligned only with the image patches relevant to
it, and each of those patches only with its relevant words.

Design (no public code; ``docs/sista.md``). Inside each study, with L2-normalised content words :math:`w_i`
(padding, special tokens and stop words excluded by ``word_mask``) and patches :math:`p_j`,
:math:`s_{ij} = w_i \\cdot p_j`:

1. word → patch: :math:`a_{i\\cdot} = \\rho(s_{i\\cdot} / \\tau_a)` over the patches, with :math:`\\rho` a sparse
   normalisation (:mod:`cxrvlp.layers.sparse`: sparsemax by default, or top-k / thresholded softmax), so each word
   keeps a few patches with exactly zero weight on the rest; its visual context is
   :math:`c_i = \\operatorname{normalise}(\\sum_j a_{ij} p_j)`.
2. the *relevant patches* :math:`R` of the study are those some word selected (:math:`\\exists i: a_{ij} > 0`);
   patch → word: :math:`b_{j\\cdot} = \\rho(s_{\\cdot j} / \\tau_a)` over the words for :math:`j \\in R` only, context
   :math:`d_j = \\operatorname{normalise}(\\sum_i b_{ji} w_i)`.
3. each word is contrasted with its own context against the contexts of the study's other words, and each relevant
   patch likewise (MGCA's token contrast, :func:`~cxrvlp.objectives.token_alignment.token_contrast_per_study`,
   temperature :math:`\\tau`, uniform weights):

   .. math:: \\mathcal L = \\frac{1}{|S_w|}\\sum_{b \\in S_w} \\ell^{word}_b
             + \\frac{1}{|S_p|}\\sum_{b \\in S_p} \\ell^{patch}_b

   over the studies of the global batch that have a content word (and a relevant patch).

A patch no word selected takes part nowhere: its gradient is exactly zero (sparsemax's Jacobian vanishes outside
the support; top-k and threshold select without gradient). Why sparsemax by default: the number of patches a
finding covers varies (a small nodule, a large effusion), and sparsemax's support adapts to the scores while top-k
fixes it; the thresholded softmax adapts too but its selection is not part of the gradient.
"""
from __future__ import annotations

import torch
from torch import nn

from cxrvlp.layers.masked import l2_normalise
from cxrvlp.layers.sparse import SPARSE_NORMALISATIONS, sparse_normalise
from cxrvlp.objectives.global_mean import global_mean
from cxrvlp.objectives.token_alignment import token_contrast_per_study


class SparseTokenAlignmentLoss(nn.Module):
    """Args: ``temperature`` (:math:`\\tau` of the contrast), ``attention_temperature`` (:math:`\\tau_a`),
    ``sparsity`` (:data:`~cxrvlp.layers.sparse.SPARSE_NORMALISATIONS`), ``k`` (top-k), ``threshold`` (thresholded
    softmax), ``bidirectional`` (add the patch → word term)."""

    def __init__(self, temperature: float = 0.1, attention_temperature: float = 0.1, sparsity: str = "sparsemax",
                 k: int = 8, threshold: float = 0.5, bidirectional: bool = True):
        super().__init__()
        if temperature <= 0 or attention_temperature <= 0:
            raise ValueError(f"temperatures must be > 0, got {temperature}, {attention_temperature}")
        if sparsity not in SPARSE_NORMALISATIONS:
            raise ValueError(f"sparsity must be one of {SPARSE_NORMALISATIONS}, got {sparsity!r}")
        self.temperature, self.attention_temperature = temperature, attention_temperature
        self.sparsity, self.k, self.threshold, self.bidirectional = sparsity, int(k), float(threshold), bidirectional
        sparse_normalise(torch.zeros(1, 1), sparsity, k=self.k, threshold=self.threshold)  # validates k / threshold

    def attention(self, words: torch.Tensor, word_mask: torch.Tensor, patches: torch.Tensor,
                  patch_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(word → patch weights [B, W, N], patch → word weights [B, N, W])`` of normalised inputs; rows of
        padding words, and of patches no word selected, are zero."""
        scores = words @ patches.transpose(1, 2) / self.attention_temperature  # [B, W, N]
        pair = word_mask.unsqueeze(2) & patch_mask.unsqueeze(1)
        to_patches = sparse_normalise(scores, self.sparsity, pair, self.k, self.threshold)
        relevant = (to_patches > 0).any(dim=1) & patch_mask  # [B, N]
        pair_t = relevant.unsqueeze(2) & word_mask.unsqueeze(1)
        to_words = sparse_normalise(scores.transpose(1, 2), self.sparsity, pair_t, self.k, self.threshold)
        return to_patches, to_words

    def forward(self, patches: torch.Tensor, patch_mask: torch.Tensor, words: torch.Tensor,
                word_mask: torch.Tensor) -> torch.Tensor:
        """``patches [B, N, D]``, ``patch_mask [B, N]``, ``words [B, W, D]``, ``word_mask [B, W]`` (content words).
        Returns a scalar."""
        patches, words = l2_normalise(patches, dim=-1), l2_normalise(words, dim=-1)
        patch_mask, word_mask = patch_mask.bool(), word_mask.bool()
        to_patches, to_words = self.attention(words, word_mask, patches, patch_mask)
        word_context = l2_normalise(to_patches @ patches, dim=-1)
        has_words = word_mask.any(dim=1)
        word_weights = word_mask.float() / word_mask.sum(1, keepdim=True).clamp_min(1)
        per_study = token_contrast_per_study(words, word_context, word_mask, word_weights, self.temperature)
        loss = global_mean(per_study.masked_fill(~has_words, 0.0).sum(), has_words.sum())
        if self.bidirectional:
            relevant = to_words.sum(dim=2) > 0
            patch_context = l2_normalise(to_words @ words, dim=-1)
            has_patches = relevant.any(dim=1)
            patch_weights = relevant.float() / relevant.sum(1, keepdim=True).clamp_min(1)
            per_study = token_contrast_per_study(patches, patch_context, relevant, patch_weights, self.temperature)
            loss = loss + global_mean(per_study.masked_fill(~has_patches, 0.0).sum(), has_patches.sum())
        return loss
