"""A picklable tokenizer call for data-loader workers (the text encoder module itself stays in the main process)."""
from __future__ import annotations

import torch


class Tokenize:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding="longest", truncation=True, max_length=max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
