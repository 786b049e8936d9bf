"""``paired_masking``: MPMA's paired masks, drawn for the same image-report pair from the item's seed.

Adds
- ``mim_mask [B, N]`` (bool, true = hidden): exactly ``round(image_ratio * N)`` of the ``N`` patches of the image
  encoder's grid at the training crop (``TargetContext.image_grid``), uniformly at random (MAE);
- ``mlm_input_ids [B, T]`` and ``mlm_labels [B, T]``: exactly ``max(1, round(word_ratio * n))`` of the report's
  ``n`` words masked whole (every piece replaced by [MASK]; labels the original ids there,
  :data:`~cxrvlp.text.masking.IGNORE_INDEX` elsewhere); a report without words is left as it is.

Exact counts rather than independent draws keep every image of a batch at the same number of visible patches, which
a ViT that drops the hidden ones needs.
"""
from __future__ import annotations

import numpy as np
import torch

from cxrvlp.data.targets import TargetContext, register_target
from cxrvlp.text.masking import IGNORE_INDEX, word_positions


@register_target("paired_masking")
class PairedMasking:
    keys = ("mim_mask", "mlm_input_ids", "mlm_labels")
    needs_offsets = True

    def __init__(self, context: TargetContext, image_ratio: float = 0.75, word_ratio: float = 0.3):
        if not (0.0 <= image_ratio < 1.0 and 0.0 <= word_ratio <= 1.0):
            raise ValueError(f"paired_masking: need 0 <= image_ratio < 1 and 0 <= word_ratio <= 1, got "
                             f"{image_ratio}, {word_ratio}")
        if context.image_grid is None:
            raise ValueError("paired_masking needs the image encoder's patch grid (TargetContext.image_grid)")
        mask_id = getattr(context.tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise ValueError("paired_masking needs a tokenizer with a [MASK] token")
        self.patches = int(np.prod(context.image_grid))
        self.hidden = int(round(image_ratio * self.patches))
        self.word_ratio, self.mask_id = word_ratio, int(mask_id)

    def __call__(self, batch: dict, encoding: dict, rngs) -> dict[str, torch.Tensor]:
        ids = batch["input_ids"]
        mim = torch.zeros(len(rngs), self.patches, dtype=torch.bool)
        hidden = torch.zeros_like(ids, dtype=torch.bool)
        for i, rng in enumerate(rngs):
            mim[i, torch.from_numpy(rng.permutation(self.patches)[: self.hidden])] = True
            words = [tokens for _, tokens in word_positions(encoding["word_ids"][i], encoding["offsets"][i])]
            if words and self.word_ratio > 0:
                count = max(1, int(round(self.word_ratio * len(words))))
                for w in rng.permutation(len(words))[:count]:
                    hidden[i, words[w]] = True
        return {"mim_mask": mim, "mlm_input_ids": ids.masked_fill(hidden, self.mask_id),
                "mlm_labels": ids.masked_fill(~hidden, IGNORE_INDEX)}
