"""Fixed 2-D sine-cosine positional encoding of a token grid (as LIMITR and MAE/ViT variants use)."""
from __future__ import annotations

import torch


def sincos_2d(height: int, width: int, dim: int, temperature: float = 10000.0,
              device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""``[height * width, dim]`` encoding of a row-major grid.

    With :math:`\omega_k = T^{-k/(d/4 - 1)}`, :math:`k = 0..d/4-1`, token :math:`(y, x)` gets
    :math:`[\sin(x\omega), \cos(x\omega), \sin(y\omega), \cos(y\omega)]` (LIMITR's ``posemb_sincos_2d``).
    """
    if dim % 4 or dim < 8:
        raise ValueError(f"sin-cos 2-D encoding needs dim divisible by 4 and >= 8, got {dim}")
    y, x = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float64),
                          torch.arange(width, device=device, dtype=torch.float64), indexing="ij")
    quarter = dim // 4
    omega = temperature ** -(torch.arange(quarter, device=device, dtype=torch.float64) / (quarter - 1))
    x, y = x.reshape(-1, 1) * omega, y.reshape(-1, 1) * omega
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1).to(dtype)
