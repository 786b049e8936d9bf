"""Learned token aggregation: a variable number of tokens → a fixed number (F-L's key-token aggregation)."""
from __future__ import annotations

import torch
from torch import nn

from cxrvlp.layers.masked import masked_softmax


class TokenAggregation(nn.Module):
    r"""Learned aggregation of ``N`` tokens into a fixed ``num_tokens``: :math:`A = \operatorname{softmax}_n(
    s \cdot \text{MLP}(\text{LN}(x)))` (``[B, N, M]``, absent tokens get 0), output :math:`A^\top x` (``[B, M, D]``).

    :math:`s` is a learnable scalar initialised to 1, as F-L's code (``self.scale``, a ``[1, 1, 1]`` parameter
    there, multiplying the logits before the softmax over tokens): a global sharpness of the aggregation that
    starts as the module without it. It is 0-dimensional here, so the optimiser's parameter groups
    (weight decay for ``p.ndim > 1`` only) leave it undecayed. ``learnable_scale=False``: :math:`s = 1`, no
    parameter. Use :func:`aggregated_token_count` for ``num_tokens``.
    """

    def __init__(self, dim: int, num_tokens: int, hidden_ratio: float = 0.2, learnable_scale: bool = True):
        super().__init__()
        if num_tokens < 1:
            raise ValueError(f"aggregated tokens must be >= 1, got {num_tokens}")
        hidden = max(1, int(dim * hidden_ratio))
        self.weights = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                     nn.Linear(hidden, num_tokens))
        if learnable_scale:
            self.scale = nn.Parameter(torch.ones(()))
        else:
            self.register_parameter("scale", None)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.weights(tokens)
        if self.scale is not None:
            logits = logits * self.scale
        weights = masked_softmax(logits, mask.bool().unsqueeze(-1), dim=1)
        return weights.transpose(1, 2) @ tokens
