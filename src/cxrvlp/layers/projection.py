"""Projection heads from encoder features to the shared embedding space."""
from __future__ import annotations

import torch
from torch import nn


def build_head(in_dim: int, dim: int = 512, hidden: int = 0, layers: int = 2, norm: str = "none") -> nn.Module:
    """``layers=1``: Linear. ``layers=2``: Linear → [BN] → ReLU → Linear [→ BN] (ConVIRT uses no norm; MGCA uses BN
    after both linears). ``hidden`` defaults to ``dim``."""
    if layers == 1:
        return nn.Linear(in_dim, dim)
    if layers != 2:
        raise ValueError(f"projection layers must be 1 or 2, got {layers}")
    if norm not in ("none", "batch"):
        raise ValueError(f"projection norm must be 'none' or 'batch', got {norm!r}")
    hidden = hidden or dim
    bn = norm == "batch"
    mods = [nn.Linear(in_dim, hidden, bias=not bn)]
    mods += [nn.BatchNorm1d(hidden)] if bn else []
    mods += [nn.ReLU(inplace=True), nn.Linear(hidden, dim, bias=not bn)]
    mods += [nn.BatchNorm1d(dim, affine=False)] if bn else []
    return nn.Sequential(*mods)


class TokenProjection(nn.Module):
    """A projection head applied to every token of ``[B, N, C]`` (batch-norm statistics over all B·N tokens, as
    MGCA's 1x1-convolution heads; padded positions are included and must be masked downstream)."""

    def __init__(self, in_dim: int, **head: object):
        super().__init__()
        self.head = build_head(in_dim, **head)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(tokens.reshape(-1, tokens.shape[-1])).reshape(*tokens.shape[:-1], -1)
