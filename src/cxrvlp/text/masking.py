"""Pathology-aware word masking for masked language modelling (F-L's key-semantics MLM).

Whole words are masked (all their word pieces become ``[MASK]``): a word inside a pathology term of the lexicon
(:meth:`cxrvlp.text.lexicon.Lexicon.find_terms`, e.g. "effusion", "airspace disease") with probability
``pathology`` (F-L: 0.75), any other word with ``other`` (0.65), or ``other_without_pathology`` (0.70) in a report
that names no pathology term. Special tokens and padding are never masked.

The draws come from a generator seeded by ``(seed, study_id, epoch)``, so a study's mask does not depend on the
batch it lands in, on the number of data-loader workers or on the global RNG, and a resumed run masks alike.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from cxrvlp.text.lexicon import LEXICON

IGNORE_INDEX = -100  # label of a position that is not predicted (torch's cross-entropy default)


@lru_cache(maxsize=65536)
def pathology_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Character spans of the lexicon's pathology terms in ``text`` (cached: a corpus repeats its reports)."""
    return tuple((t.start, t.end) for t in LEXICON.find_terms(text, "pathology"))


@dataclass(frozen=True)
class MaskingProbabilities:
    pathology: float = 0.75
    other: float = 0.65
    other_without_pathology: float = 0.70

    def __post_init__(self):
        for name in ("pathology", "other", "other_without_pathology"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"masking probability {name} must be in [0, 1], got {p}")


def word_mask_probabilities(text: str, word_spans: list[tuple[int, int]],
                            probs: MaskingProbabilities) -> np.ndarray:
    """Masking probability of each word (character span) of ``text``."""
    terms = pathology_spans(text)
    other = probs.other if terms else probs.other_without_pathology
    return np.array([probs.pathology if any(s < te and ts < e for ts, te in terms) else other
                     for s, e in word_spans], dtype=np.float64)


def study_seed(seed: int, study_id: str, epoch: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), zlib.crc32(str(study_id).encode()), int(epoch)])


class PathologyAwareMasker:
    """Mask a tokenised batch: ``(masked input_ids, labels)`` with labels :data:`IGNORE_INDEX` where not masked.

    Args:
        tokenizer: the (fast) tokenizer that produced ``input_ids`` (word boundaries and offsets come from it).
        mask_token_id: id written at masked positions.
        probabilities: :class:`MaskingProbabilities`.
        seed: base seed of the per-study generators.
    """

    def __init__(self, tokenizer, mask_token_id: int | None, probabilities: MaskingProbabilities, seed: int = 0):
        if mask_token_id is None:
            raise ValueError("masked language modelling needs a tokenizer with a [MASK] token")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"pathology-aware masking needs a fast tokenizer (word ids and offsets), got "
                             f"{type(tokenizer).__name__}")
        self.tokenizer, self.mask_token_id = tokenizer, int(mask_token_id)
        self.probabilities, self.seed = probabilities, int(seed)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, texts: list[str],
                 study_ids: list[str], epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask a batch with one generator per ``(seed, study_id, epoch)``; the texts are tokenised again here to
        find the words (the data pipeline's ``pathology_masking`` target uses its own tokenisation instead)."""
        if not (len(texts) == len(study_ids) == input_ids.shape[0]):
            raise ValueError(f"masking got {input_ids.shape[0]} token rows, {len(texts)} texts and "
                             f"{len(study_ids)} study ids")
        enc = self.tokenizer(list(texts), truncation=True, max_length=input_ids.shape[1],
                             return_offsets_mapping=True)
        for i in range(len(texts)):
            n = int(attention_mask[i].sum())
            if enc["input_ids"][i] != input_ids[i, :n].tolist():
                raise ValueError(f"study {study_ids[i]}: its input_ids are not this tokenizer's encoding of its text "
                                 "(the batch was tokenised with another tokenizer or other settings)")
        rngs = [np.random.default_rng(study_seed(self.seed, sid, epoch)) for sid in study_ids]
        return self.mask_encoded(input_ids, [enc.word_ids(i) for i in range(len(texts))], enc["offset_mapping"],
                                 texts, rngs)

    def mask_encoded(self, input_ids: torch.Tensor, word_ids: list[list[int | None]], offsets,
                     texts: list[str], rngs: list[np.random.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask ``input_ids [B, T]`` given each row's word ids and character offsets (as the fast tokenizer gives
        them; padding positions have word id None) and one generator per row."""
        masked = torch.zeros_like(input_ids, dtype=torch.bool)
        for i, text in enumerate(texts):
            positions = word_positions(word_ids[i], offsets[i])
            if not positions:
                continue
            p = word_mask_probabilities(text, [span for span, _ in positions], self.probabilities)
            draw = rngs[i].random(len(positions))
            for (_, tokens), hit in zip(positions, draw < p):
                if hit:
                    masked[i, tokens] = True
        labels = input_ids.masked_fill(~masked, IGNORE_INDEX)
        return input_ids.masked_fill(masked, self.mask_token_id), labels


def word_positions(word_ids: list[int | None], offsets) -> list[tuple[tuple[int, int], list[int]]]:
    """``[((char start, char end), [token positions])]`` per word, special tokens left out."""
    words: dict[int, tuple[list[int], list[int]]] = {}
    for pos, (w, (s, e)) in enumerate(zip(word_ids, offsets)):
        if w is None:
            continue
        chars, tokens = words.setdefault(w, ([], []))
        chars += [int(s), int(e)]
        tokens.append(pos)
    return [((min(c), max(c)), t) for c, t in words.values()]
