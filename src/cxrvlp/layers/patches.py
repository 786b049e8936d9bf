"""Image patches for masked image modelling: patchify / unpatchify and a light pixel decoder (MAE)."""
from __future__ import annotations

import torch
from torch import nn

from cxrvlp.layers.positional import sincos_2d


def patchify(images: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, C, H, W]`` → ``[B, (H/size)(W/size), size*size*C]``, row-major over the patch grid."""
    b, c, h, w = images.shape
    if h % size or w % size:
        raise ValueError(f"image {h}x{w} is not a whole number of {size}-pixel patches")
    x = images.reshape(b, c, h // size, size, w // size, size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // size) * (w // size), size * size * c)


def normalised_patches(images: torch.Tensor, size: int, eps: float = 1e-6) -> torch.Tensor:
    """MAE's ``norm_pix_loss`` target: each patch's pixels minus their mean, over their standard deviation."""
    p = patchify(images.float(), size)
    return (p - p.mean(-1, keepdim=True)) / (p.var(-1, keepdim=True, unbiased=True) + eps).sqrt()


class PixelDecoder(nn.Module):
    """Tokens of the visible patches (at their grid positions) → pixels of every patch: the visible tokens and a
    learned mask token at each hidden position, plus a fixed 2-D sin-cos position, through ``layers`` transformer
    layers of width ``width``, then a linear map to ``patch_pixels`` values (MAE's light decoder)."""

    def __init__(self, dim: int, grid: tuple[int, int], patch_pixels: int, width: int = 128, layers: int = 1,
                 heads: int = 4):
        super().__init__()
        self.grid = tuple(grid)
        self.embed = nn.Linear(dim, width)
        self.mask_token = nn.Parameter(torch.zeros(width))
        self.register_buffer("position", sincos_2d(*self.grid, width), persistent=False)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, 0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else nn.Identity()
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, patch_pixels)

    def forward(self, tokens: torch.Tensor, token_index: torch.Tensor | None, hidden: torch.Tensor) -> torch.Tensor:
        """``tokens [B, K, dim]`` at grid positions ``token_index [B, K]`` (None: ``K = N`` in grid order, e.g. a
        CNN that saw the hidden patches blanked), ``hidden [B, N]`` → predicted pixels ``[B, N, patch_pixels]``."""
        x = self.embed(tokens)
        n = self.grid[0] * self.grid[1]
        canvas = self.mask_token.to(x.dtype).expand(x.shape[0], n, -1)
        if token_index is None:
            canvas = torch.where(hidden.unsqueeze(-1), canvas, x)
        else:
            canvas = canvas.scatter(1, token_index.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x)
        x = self.blocks(canvas + self.position.to(x.dtype))
        return self.head(self.norm(x))
