"""Packed lateral views: a batch carries ``lateral [L, C, H, W]`` for the ``L`` studies that have one and
``lateral_index [L]`` into the batch; no blank stand-in image is ever encoded. One helper encodes them and scatters
the results into batch-sized tensors with a mask (LIMITR and F-L alike)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LateralViews:
    """Per-study lateral features, zero where ``mask`` is false.

    - ``global_features [B, Dg]`` and ``local_features [B, N, Dl]`` after the given heads;
    - ``packed_global [L, Dg]``, ``packed_local [L, N, Dl]``: the same for the studies that have a lateral view;
    - ``mask [B]`` (bool), ``index [L]``, ``grid`` of the local tokens.
    """

    global_features: torch.Tensor
    local_features: torch.Tensor
    packed_global: torch.Tensor
    packed_local: torch.Tensor
    mask: torch.Tensor
    index: torch.Tensor
    grid: tuple[int, int]


def scatter_rows(packed: torch.Tensor, index: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``[L, ...]`` rows into a zero ``[B, ...]`` tensor at ``index``."""
    return packed.new_zeros((batch_size, *packed.shape[1:])).index_copy(0, index, packed)


def encode_laterals(encoder: nn.Module, lateral: torch.Tensor, lateral_index: torch.Tensor, batch_size: int,
                    frontal_size: tuple[int, int], global_head: nn.Module | None, local_head: nn.Module,
                    global_dim: int, local_dim: int, grad: bool = True) -> LateralViews:
    """Encode the packed laterals with ``encoder`` (an image encoder), map them with the heads (``global_head=None``:
    the mean of the mapped local tokens) and scatter into the batch. With no lateral in the batch the encoder is not
    run; the grid is the one the encoder gives for the frontal size (both views are preprocessed alike).

    ``grad=False`` runs the encoder without gradient (a frozen lateral encoder); the heads still get one."""
    index = lateral_index.to(lateral.device)
    if lateral.shape[0]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and grad):
            feats = encoder(lateral)
        packed_local, grid = local_head(feats.local_features), feats.grid
        packed_global = packed_local.mean(dim=1) if global_head is None else global_head(feats.global_features)
    else:
        grid = encoder.feature_grid(frontal_size)
        param = next(local_head.parameters())
        packed_local = param.new_zeros((0, grid[0] * grid[1], local_dim))
        packed_global = param.new_zeros((0, global_dim))
    mask = torch.zeros(batch_size, dtype=torch.bool, device=lateral.device).index_fill(0, index, True)
    return LateralViews(scatter_rows(packed_global, index, batch_size), scatter_rows(packed_local, index, batch_size),
                        packed_global, packed_local, mask, index, grid)
