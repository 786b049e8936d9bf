"""LIMITR's multi-view image side: separate frontal and lateral encoders fused into one global vector and one
region set (Dawidowicz et al., ICCV 2023).

On top of :class:`LocalDualEncoder`'s outputs, ``image_emb`` becomes the mean of the available views' projected
globals and ``region_emb [B, N_f + N_l, D]`` the frontal regions followed by the lateral ones, both plus one shared
2-D sin-cos positional encoding, with ``region_mask`` false on the lateral half of studies without a lateral view
(the batch's packed laterals: ``lateral [L, ...]``, ``lateral_index [L]``; no blank stand-in image is encoded).

LIMITR's code instead fills a missing lateral with 1e-8 regions that still take part in the attention, and halves
the frontal global of single-view studies (it averages with a zero vector); neither is copied.

Zero-shot evaluation and retrieval embed the frontal view only (``embed_images``), as for the other recipes.

Options (besides :class:`LocalDualEncoder`'s): ``lateral_encoder`` (image encoder config of the lateral view,
default a copy of ``image_encoder``) and ``positional_encoding`` (add the shared sin-cos encoding to the regions,
default true).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cxrvlp.encoders import ImageFeatures, TextFeatures, build_image_encoder
from cxrvlp.layers.positional import sincos_2d
from cxrvlp.layers.projection import TokenProjection, build_head
from cxrvlp.layers.views import encode_laterals, scatter_rows
from cxrvlp.methods.local_dual_encoder import LocalDualEncoder
from cxrvlp.methods.registry import register_model
from cxrvlp.recipe import RecipeConfig


def fuse_views(frontal_global: torch.Tensor, frontal_regions: torch.Tensor, lateral_global: torch.Tensor,
               lateral_regions: torch.Tensor, lateral_index: torch.Tensor, frontal_pos: torch.Tensor | None = None,
               lateral_pos: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Fuse each study's frontal view with its lateral view where it has one.

    Args:
        frontal_global ``[B, D]``, frontal_regions ``[B, N_f, D]``: every study.
        lateral_global ``[L, D]``, lateral_regions ``[L, N_l, D]``: the studies ``lateral_index [L]`` only.
        frontal_pos ``[N_f, D]``, lateral_pos ``[N_l, D]``: positional encodings added to the regions (or None).

    Returns:
        ``global [B, D]`` = :math:`\frac{1}{1 + h_b}(g^f_b + h_b g^l_b)` (:math:`h_b` = has a lateral),
        ``regions [B, N_f + N_l, D]`` (zeros where no lateral) and ``mask [B, N_f + N_l]``.
    """
    b, n_lat = frontal_global.shape[0], lateral_regions.shape[1]
    has = torch.zeros(b, dtype=torch.bool, device=frontal_global.device).index_fill(0, lateral_index, True)
    lat_global = scatter_rows(lateral_global.to(frontal_global.dtype), lateral_index, b)
    fused_global = (frontal_global + lat_global) / (1.0 + has.to(frontal_global.dtype)).unsqueeze(-1)
    if frontal_pos is not None:
        frontal_regions = frontal_regions + frontal_pos
    if lateral_pos is not None:
        lateral_regions = lateral_regions + lateral_pos
    lat_regions = scatter_rows(lateral_regions.to(frontal_regions.dtype), lateral_index, b)
    mask = torch.cat([torch.ones(frontal_regions.shape[:2], dtype=torch.bool, device=has.device),
                      has.unsqueeze(1).expand(b, n_lat)], dim=1)
    return fused_global, torch.cat([frontal_regions, lat_regions], dim=1), mask


@register_model("multiview")
class MultiViewEncoder(LocalDualEncoder):
    DDP_FIND_UNUSED = True

    @dataclass
    class Options(LocalDualEncoder.Options):
        lateral_encoder: dict | None = None
        positional_encoding: bool = True

    def __init__(self, cfg: RecipeConfig, outputs: frozenset[str] = frozenset()):
        super().__init__(cfg, outputs)
        self.lateral_encoder = build_image_encoder(dict(self.options.lateral_encoder or self.cfg.image_encoder))
        if self.lateral_encoder.in_chans != self.image_encoder.in_chans:
            raise ValueError(f"lateral encoder has in_chans={self.lateral_encoder.in_chans}, the frontal one "
                             f"{self.image_encoder.in_chans}; both views are preprocessed alike")
        self.lateral_proj = build_head(self.lateral_encoder.global_dim, **self.cfg.projection)
        self.lateral_region_proj = TokenProjection(self.lateral_encoder.local_dim, **self.local_head_config())
        self.positional_encoding = bool(self.options.positional_encoding)

    def _positions(self, grid: tuple[int, int], like: torch.Tensor) -> torch.Tensor | None:
        if not self.positional_encoding:
            return None
        return sincos_2d(*grid, like.shape[-1], device=like.device, dtype=like.dtype)

    def lateral_grid(self, batch: dict) -> tuple[int, int]:
        return self.lateral_encoder.feature_grid(tuple(batch["frontal"].shape[-2:]))

    def outputs(self, batch: dict, img: ImageFeatures, txt: TextFeatures) -> dict:
        out = super().outputs(batch, img, txt)
        lat = encode_laterals(self.lateral_encoder, batch["lateral"], batch["lateral_index"],
                              out["image_emb"].shape[0], tuple(batch["frontal"].shape[-2:]), self.lateral_proj,
                              self.lateral_region_proj, out["image_emb"].shape[-1], out["region_emb"].shape[-1])
        fused_global, regions, mask = fuse_views(
            out["image_emb"], out["region_emb"], lat.packed_global, lat.packed_local, lat.index,
            self._positions(img.grid, out["region_emb"]), self._positions(lat.grid, out["region_emb"]))
        # the [CLS] attention covers the frontal patches only: the fused regions are weighted uniformly
        out.update(image_emb=fused_global, region_emb=regions, region_mask=mask, region_attn=None)
        return out
