"""SISTA's Semantics-aware Instance-level Alignment (SIA): image-report InfoNCE whose targets account for how alike
the reports of a batch are, so that two studies whose reports say the same thing are not pushed apart as negatives.

Design (SISTA has no public code; ``docs/sista.md``): a report similarity :math:`S_{ij} \\in [-1, 1]` over the
global batch, from either or both of

- ``text``: :math:`\\cos(e_i, e_j)` of detached report embeddings (the model's ``report_sim_emb``: its own text
  tower, or a frozen or EMA copy of it),
- ``labels``: agreement of the report labeler's finding vectors (the ``report_findings`` batch target):
  the Jaccard index of the positive findings, 1 for two reports without any;

mixed as :math:`S = \\alpha S^{text} + (1-\\alpha) S^{labels}` when both are used, with :math:`S_{ii} = 1`. Pairs with
:math:`S_{ij} \\ge \\theta` (``threshold``) count as semantic twins. Then, per row of this process's images (and
symmetrically its reports):

- ``mode="mask"``: twins :math:`j \\ne i` are no candidates (left out of the softmax denominator);
- ``mode="soft"``: the target is :math:`q_i = (1-\\beta)\\,\\delta_i + \\beta\\,S^+_{i\\cdot} / \\sum_j S^+_{ij}`
  with :math:`S^+_{ij} = S_{ij} [S_{ij} \\ge \\theta]` (the own pair included with weight 1);
- ``mode="none"``: plain InfoNCE.

With all reports distinct (no twin) every mode is exactly :class:`InfoNCELoss`. The loss is
:math:`\\lambda\\,\\mathrm{CE}(s^{v \\to t}_i, q_i) + (1-\\lambda)\\,\\mathrm{CE}(s^{t \\to v}_i, q_i)`
averaged over the rows; similarities and targets are computed against the all-gathered batch, so two processes
give the loss of one process on the whole batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cxrvlp import distributed
from cxrvlp.objectives.infonce import InfoNCELoss, pair_logits, symmetric_contrast

MODES = ("soft", "mask", "none")
SOURCES = ("text", "labels")


def label_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Jaccard index of the positive findings (``> 0.5``) of ``a [n, F]`` and ``b [N, F]``; 1 where both are empty."""
    a, b = (a > 0.5).float(), (b > 0.5).float()
    both = a @ b.T
    either = a.sum(1, keepdim=True) + b.sum(1).unsqueeze(0) - both
    return torch.where(either > 0, both / either.clamp_min(1.0), torch.ones_like(both))


class SemanticInstanceAlignmentLoss(InfoNCELoss):
    """Args (besides :class:`InfoNCELoss`'s): ``mode`` (:data:`MODES`), ``similarity`` (a list of
    :data:`SOURCES`), ``text_weight`` (:math:`\\alpha` when both sources are used), ``threshold``
    (:math:`\\theta`), ``soft_weight`` (:math:`\\beta`)."""

    def __init__(self, temperature: float = 0.1, learnable: bool = False, image_to_text_weight: float = 0.5,
                 mode: str = "soft", similarity: tuple[str, ...] | list[str] = ("text", "labels"),
                 text_weight: float = 0.5, threshold: float = 0.9, soft_weight: float = 0.5):
        super().__init__(temperature, learnable, image_to_text_weight)
        similarity = tuple(similarity)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not similarity or any(s not in SOURCES for s in similarity):
            raise ValueError(f"similarity must name one or more of {SOURCES}, got {list(similarity)}")
        if not (0.0 <= text_weight <= 1.0 and -1.0 <= threshold <= 1.0 and 0.0 <= soft_weight <= 1.0):
            raise ValueError(f"need text_weight and soft_weight in [0, 1], threshold in [-1, 1]; got {text_weight}, "
                             f"{soft_weight}, {threshold}")
        self.mode, self.similarity, self.text_weight = mode, similarity, text_weight
        self.threshold, self.soft_weight = threshold, soft_weight

    @torch.no_grad()
    def report_similarity(self, report_emb: torch.Tensor | None, findings: torch.Tensor | None) -> torch.Tensor:
        """``[n, N]``: this process's reports against every report of the global batch, 1 on the own pair."""
        parts = []
        if "text" in self.similarity:
            e = F.normalize(report_emb.detach().float(), dim=-1)
            parts.append((self.text_weight if len(self.similarity) > 1 else 1.0,
                          e @ distributed.gather_with_grad(e).T))
        if "labels" in self.similarity:
            f = findings.detach().float()
            parts.append((1.0 - self.text_weight if len(self.similarity) > 1 else 1.0,
                          label_similarity(f, distributed.gather_with_grad(f))))
        sim = sum(w * s for w, s in parts)
        own = torch.arange(sim.shape[0], device=sim.device) + distributed.rank() * sim.shape[0]
        return sim.scatter(1, own.unsqueeze(1), 1.0)

    def forward(self, image: torch.Tensor, text: torch.Tensor, report_emb: torch.Tensor | None = None,
                findings: torch.Tensor | None = None) -> torch.Tensor:
        """``image``, ``text``: ``[B, D]``; ``report_emb [B, E]`` (detached, for the ``text`` source) and
        ``findings [B, F]`` (for ``labels``). Returns a scalar."""
        logits = pair_logits(image, text, self.logit_scale())
        if self.mode == "none":
            return symmetric_contrast(logits, self.weight).mean()
        if "text" in self.similarity and report_emb is None or "labels" in self.similarity and findings is None:
            raise ValueError(f"SIA with similarity {list(self.similarity)} needs report_emb and/or findings")
        sim = self.report_similarity(report_emb, findings)
        twins = sim >= self.threshold
        own = F.one_hot(logits.own, sim.shape[1]).bool()
        if self.mode == "mask":
            candidates = ~twins | own
            return symmetric_contrast(logits, self.weight, column_mask=candidates).mean()
        spread = sim.clamp_min(0.0) * twins
        targets = (1.0 - self.soft_weight) * own.float() + self.soft_weight * spread / spread.sum(1, keepdim=True)
        targets = targets.to(logits.image_to_text.dtype)
        return symmetric_contrast(logits, self.weight, targets, targets).mean()
