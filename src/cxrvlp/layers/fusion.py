"""Cross-modal fusion (MPMA's memory-augmented fusion): image and text token streams that read each other, and a
learned memory of visual slots that the text side reads as well.

- :class:`VisualMemory`: ``S`` learned slots read the study's image tokens (one cross-attention), giving a per-study
  visual summary of fixed size;
- :class:`FusionBlock`: pre-norm transformer block over both streams; ``mode="co_attention"``: each stream attends
  to itself, then text attends to [image tokens; memory] and image attends to text (ViLBERT / M3AE co-attention),
  then an MLP each; ``mode="merged"``: one self-attention over [text; image; memory] (ViLT-style merged attention).
  ``text_reads_image`` / ``image_reads_text`` switch the cross paths off (ablation: the text stream then gets no
  gradient from the image, and no image information reaches report reconstruction).
"""
from __future__ import annotations

import torch
from torch import nn


def _mlp(dim: int, ratio: float) -> nn.Module:
    hidden = int(dim * ratio)
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class _Attend(nn.Module):
    """``x + MHA(LN(x), LN(context))`` with a key padding mask (true = real)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm_x, self.norm_c = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        c = self.norm_c(context)
        return x + self.attn(self.norm_x(x), c, c, key_padding_mask=~context_mask.bool(), need_weights=False)[0]


class VisualMemory(nn.Module):
    """``slots`` learned queries read the image tokens: ``[B, S, D]`` (slots + attention over the image)."""

    def __init__(self, dim: int, slots: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.slots = nn.Parameter(torch.randn(slots, dim) * 0.02)
        self.read = _Attend(dim, heads, dropout)

    def forward(self, image: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        queries = self.slots.unsqueeze(0).expand(image.shape[0], -1, -1).to(image.dtype)
        return self.read(queries, image, image_mask)


class FusionBlock(nn.Module):
    MODES = ("co_attention", "merged")

    def __init__(self, dim: int, heads: int, mode: str = "co_attention", mlp_ratio: float = 4.0,
                 dropout: float = 0.0, text_reads_image: bool = True, image_reads_text: bool = True):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"fusion mode must be one of {self.MODES}, got {mode!r}")
        if dim % heads:
            raise ValueError(f"fusion width {dim} is not divisible by {heads} heads")
        self.mode, self.text_reads_image, self.image_reads_text = mode, text_reads_image, image_reads_text
        self.text_self, self.image_self = _Attend(dim, heads, dropout), _Attend(dim, heads, dropout)
        if mode == "co_attention":
            self.text_cross = _Attend(dim, heads, dropout) if text_reads_image else None
            self.image_cross = _Attend(dim, heads, dropout) if image_reads_text else None
        self.text_mlp, self.image_mlp = _mlp(dim, mlp_ratio), _mlp(dim, mlp_ratio)

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, image: torch.Tensor, image_mask: torch.Tensor,
                memory: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``text [B, T, D]``, ``image [B, N, D]``, ``memory [B, S, D]`` or None → updated ``(text, image)``."""
        visual, visual_mask = image, image_mask
        if memory is not None:
            visual = torch.cat([image, memory], dim=1)
            visual_mask = torch.cat([image_mask, image_mask.new_ones(memory.shape[:2])], dim=1)
        if self.mode == "merged":
            t_ctx, t_mask = (torch.cat([text, visual], 1), torch.cat([text_mask, visual_mask], 1)) \
                if self.text_reads_image else (text, text_mask)
            i_ctx, i_mask = (torch.cat([text, image], 1), torch.cat([text_mask, image_mask], 1)) \
                if self.image_reads_text else (image, image_mask)
            text, image = self.text_self(text, t_ctx, t_mask), self.image_self(image, i_ctx, i_mask)
        else:
            text, image = self.text_self(text, text, text_mask), self.image_self(image, image, image_mask)
            new_text = self.text_cross(text, visual, visual_mask) if self.text_cross is not None else text
            image = self.image_cross(image, text, text_mask) if self.image_cross is not None else image
            text = new_text
        return text + self.text_mlp(text), image + self.image_mlp(image)
