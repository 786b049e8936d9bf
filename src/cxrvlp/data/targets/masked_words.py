"""``pathology_masking``: F-L's pathology-aware whole-word masking (:mod:`cxrvlp.text.masking`) as a batch target.

Adds ``mlm_input_ids [B, T]`` (the report tokens with the drawn words replaced by [MASK]) and ``mlm_labels [B, T]``
(the original ids at the masked positions, :data:`~cxrvlp.text.masking.IGNORE_INDEX` elsewhere). The words come
from the collate's own tokenisation (word ids and character offsets): the report is tokenised once.
"""
from __future__ import annotations

import torch

from cxrvlp.data.targets import TargetContext, register_target
from cxrvlp.text.masking import MaskingProbabilities, PathologyAwareMasker


@register_target("pathology_masking")
class PathologyMasking:
    keys = ("mlm_input_ids", "mlm_labels")
    needs_offsets = True

    def __init__(self, context: TargetContext, pathology: float = 0.75, other: float = 0.65,
                 other_without_pathology: float = 0.70):
        tokenizer = context.tokenizer
        self.masker = PathologyAwareMasker(tokenizer, getattr(tokenizer, "mask_token_id", None),
                                           MaskingProbabilities(pathology, other, other_without_pathology))

    def __call__(self, batch: dict, encoding: dict, rngs) -> dict[str, torch.Tensor]:
        masked, labels = self.masker.mask_encoded(batch["input_ids"], encoding["word_ids"], encoding["offsets"],
                                                  batch["text"], rngs)
        return {"mlm_input_ids": masked, "mlm_labels": labels}
