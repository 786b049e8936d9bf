"""Word-level text features: word pieces merged into words on the device, without a Python loop or host sync.

GLoRIA, MGCA and LIMITR align *words* (not word pieces) with image regions: the features of the pieces of a word
are summed (their choice; ``reduce="mean"`` averages) and so is the [CLS] attention to them. Special tokens
([CLS], [SEP], [PAD]) are not words. MGCA merges in a Python loop over every token with a ``.item()`` each; here
two lookup tables over the vocabulary (is a continuation piece, is special) turn the merge into a cumulative sum
and one ``scatter_add``.

>>> merger = WordPieceMerger(text_encoder.tokenizer)
>>> word_mask, words, word_attn = merger(input_ids, attention_mask, token_features, cls_attention)
"""
from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

# how tokenizers mark pieces: WordPiece prefixes continuations, SentencePiece / byte-level BPE prefix word starts
CONTINUATION_PREFIX = "##"
WORD_START_PREFIXES = ("\u2581", "\u0120")  # SentencePiece '▁', GPT-2/RoBERTa 'Ġ'


def continuation_table(tokens: list[str], special_ids: set[int]) -> torch.Tensor:
    """``[V]`` bool: token ``i`` continues the previous word. Detects the piece convention from the vocabulary."""
    if any(t.startswith(CONTINUATION_PREFIX) and len(t) > 2 for t in tokens):
        flags = [t.startswith(CONTINUATION_PREFIX) and len(t) > 2 for t in tokens]
    else:
        prefix = next((p for p in WORD_START_PREFIXES if any(t.startswith(p) for t in tokens)), None)
        if prefix is None:
            log.warning("tokenizer marks no word pieces ('##' continuations or '▁'/'Ġ' starts): every token is a "
                        "word")
            flags = [False] * len(tokens)
        else:
            flags = [not t.startswith(prefix) for t in tokens]
    for i in special_ids:
        if 0 <= i < len(flags):
            flags[i] = False
    return torch.tensor(flags, dtype=torch.bool)


def merge_tokens(x: torch.Tensor, word_index: torch.Tensor, valid: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Reduce token values ``x [B, T, ...]`` into words ``[B, T, ...]`` (word ``k`` of row ``b`` at ``[b, k]``).

    ``word_index [B, T]`` is each token's word, ``valid [B, T]`` whether it belongs to any word. Words beyond a
    row's count are zero. The word axis keeps the token length ``T`` (an upper bound) so that no shape depends on
    the data.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    extra = x.shape[2:]
    v = valid.reshape(*valid.shape, *([1] * len(extra))).to(x.dtype)
    idx = word_index.reshape(*word_index.shape, *([1] * len(extra))).expand_as(x)
    out = torch.zeros_like(x).scatter_add_(1, idx, x * v)
    if reduce == "mean":
        count = torch.zeros_like(v).scatter_add_(1, word_index.reshape(v.shape), v)
        out = out / count.clamp_min(1.0)
    return out


class WordPieceMerger(nn.Module):
    """Maps token-level features of a tokenizer's output to word-level features (``reduce``: "sum" or "mean" of
    the pieces). Lookup tables are non-persistent buffers (rebuilt from the tokenizer, never in checkpoints)."""

    def __init__(self, tokenizer, reduce: str = "sum"):
        super().__init__()
        if reduce not in ("sum", "mean"):
            raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
        self.reduce = reduce
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        special = set(tokenizer.all_special_ids)
        self.register_buffer("continuation", continuation_table(tokens, special), persistent=False)
        is_special = torch.zeros(len(tokens), dtype=torch.bool)
        is_special[[i for i in special if 0 <= i < len(tokens)]] = True
        self.register_buffer("special", is_special, persistent=False)

    def word_index(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(word index [B, T], belongs to a word [B, T])``. A continuation piece with no word before it (after
        [CLS] or truncation) starts a word of its own."""
        real = attention_mask.bool() & ~self.special[input_ids]
        previous_real = torch.nn.functional.pad(real[:, :-1], (1, 0), value=False)
        starts = real & (~self.continuation[input_ids] | ~previous_real)
        index = starts.long().cumsum(dim=1) - 1
        return index.clamp_min(0), real

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: torch.Tensor,
                attention: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(word_mask [B, T], words [B, T, C], word_attention [B, T] | None)`` for token ``features [B, T, C]``
        and optional [CLS] ``attention [B, T]``; the attention of a word is the sum over its pieces."""
        index, valid = self.word_index(input_ids, attention_mask)
        count = torch.zeros(valid.shape, dtype=torch.long, device=valid.device).scatter_add_(1, index, valid.long())
        words = merge_tokens(features, index, valid, self.reduce)
        word_attention = None if attention is None else merge_tokens(attention, index, valid, "sum")
        return count > 0, words, word_attention
