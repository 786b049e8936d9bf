"""A picklable tokenizer call for data-loader workers (the text encoder module itself stays in the main process)."""
from __future__ import annotations


class Tokenize:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, texts: list[str], max_length: int, offsets: bool = False) -> dict:
        """``{"input_ids", "attention_mask"}`` ([B, T], padded to the longest); with ``offsets`` also
        ``"word_ids"`` (a list per row, None for special tokens and padding) and ``"offsets"`` ([B, T, 2] character
        spans), which word-level batch targets need."""
        enc = self.tokenizer(list(texts), padding="longest", truncation=True, max_length=max_length,
                             return_tensors="pt", return_offsets_mapping=offsets)
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if offsets:
            out["word_ids"] = [enc.word_ids(i) for i in range(len(texts))]
            out["offsets"] = enc["offset_mapping"]
        return out
