"""Output types of the encoders: small dataclasses with the shape contract in their docstrings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class ImageFeatures:
    """What an image encoder returns for ``images [B, C, H, W]``.

    - ``global_features``: ``[B, global_dim]`` - one vector per image (pooled / CLS / pre-logits).
    - ``local_features``: ``[B, N, local_dim]`` - patch or region tokens, row-major over the grid.
    - ``grid``: ``(h, w)`` with ``h * w == N``; token ``i`` covers grid cell ``(i // w, i % w)``.
    - ``attentions``: ``[B, N]`` or ``None`` - only with ``return_attentions=True`` on encoders whose
      ``supports_attentions`` is true (ViT): last block's CLS-to-patch attention, averaged over heads. The
      prefix (CLS) column is left out, so rows sum to slightly less than 1.
    - ``token_index``: ``[B, K]`` or ``None`` - from ``forward_visible`` on an encoder that drops hidden patches
      (ViT): the grid position of each of the ``K`` rows of ``local_features``; ``None`` means all ``N`` in order.
    """

    global_features: torch.Tensor
    local_features: torch.Tensor
    grid: tuple[int, int]
    attentions: Optional[torch.Tensor] = None
    token_index: Optional[torch.Tensor] = None


@dataclass
class TextFeatures:
    """What a text encoder returns for ``input_ids [B, T]`` and ``attention_mask [B, T]``.

    - ``global_features``: ``[B, global_dim]`` - CLS token or the mean over real (mask == 1) tokens.
    - ``token_features``: ``[B, T, token_dim]`` - last hidden state, padding positions included (mask them).
    - ``attention_mask``: ``[B, T]`` - 1 for a real token, 0 for padding (the mask that was passed in).
    - ``attentions``: ``[B, T]`` or ``None`` - only with ``return_attentions=True``: last layer's [CLS]-to-token
      attention averaged over heads (padding columns are 0; rows sum to 1).
    """

    global_features: torch.Tensor
    token_features: torch.Tensor
    attention_mask: torch.Tensor
    attentions: Optional[torch.Tensor] = None
