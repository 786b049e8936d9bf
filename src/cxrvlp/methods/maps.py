"""Word-to-patch maps: where a model's report words look in its images, for grounding evaluation and ``explain``.

Every model with local features implements ``word_patch_maps(batch) -> WordPatchMaps``: for each study, each word
of its report against each patch of each view the model encodes locally, as the cosine similarity of the projected
word and patch embeddings, for every recipe alike. A recipe's own word→patch attention (MGCA's softmax, SISTA's
sparsemax of the cosines over a temperature) orders a word's patches the same way, except that sparsemax ties the
patches it drops at zero; comparing recipes on one kind of map keeps the comparison about the embeddings. Higher
means more related; the scale differs between recipes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class WordPatchMaps:
    """- ``word_index [B, T]``: the word (row of the maps) each token of ``input_ids`` belongs to, -1 for special
      tokens and padding;
    - ``word_mask [B, W]``: real words;
    - ``views``: view name (``"frontal"``, ``"lateral"``) → ``[B, W, h, w]`` map over that view's patch grid;
    - ``view_mask``: view name → ``[B]`` bool, the studies that have that view (all true for the frontal).
    """

    word_index: torch.Tensor
    word_mask: torch.Tensor
    views: dict[str, torch.Tensor]
    view_mask: dict[str, torch.Tensor]


def cosine_maps(words: torch.Tensor, patches: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """``words [B, W, D]``, ``patches [B, N, D]`` → ``[B, W, h, w]`` cosine similarities."""
    sim = F.normalize(words, dim=-1) @ F.normalize(patches, dim=-1).transpose(1, 2)
    return sim.reshape(*sim.shape[:2], *grid)


def token_word_index(merger, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` word of each token (a :class:`~cxrvlp.encoders.words.WordPieceMerger`), -1 outside words."""
    index, real = merger.word_index(input_ids, attention_mask)
    return index.masked_fill(~real, -1)
