"""The masked-language-modelling prediction head."""
from __future__ import annotations

import torch
from torch import nn


class MLMHead(nn.Module):
    """Linear → GELU → LayerNorm → Linear to the vocabulary (BERT's prediction head)."""

    def __init__(self, dim: int, vocab_size: int):
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.decoder = nn.Linear(dim, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))
