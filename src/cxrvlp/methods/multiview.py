"""LIMITR's multi-view image side: separate frontal and lateral encoders fused into one global vector and one
region set (Dawidowicz et al., ICCV 2023).

On top of :class:`LocalDualEncoder`'s outputs, ``image_emb`` becomes the mean of the available views' projected
globals and ``region_emb [B, N_f + N_l, D]`` the frontal regions followed by the lateral ones, both plus one shared
2-D sin-cos positional encoding, with ``region_mask`` false on the lateral half of studies without a lateral view
(the batch's packed laterals: ``lateral [L, ...]``, ``lateral_index [L]``; no blank stand-in image is encoded).

LIMITR's code instead fills a missing lateral with 1e-8 regions that still take part in the attention, and halves
the frontal global of single-view studies (it averages with a zero vector); neither is copied.

Zero-shot evaluation and retrieval embed the frontal view only (``embed_images``), as for the other recipes.

``model_options`` (besides :class:`LocalDualEncoder`'s)::

    lateral_encoder:      image encoder config of the lateral view (default: a copy of ``image_encoder``)
    positional_encoding:  add the shared sin-cos encoding to the regions (default true)
"""
from __future__ import annotations

import torch

from cxrvlp.encoders import ImageFeatures, TextFeatures, build_image_encoder
from cxrvlp.methods.heads import build_head
from cxrvlp.methods.local_dual_encoder import LocalDualEncoder, TokenProjection
from cxrvlp.methods.positional import sincos_2d


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
    lat_global = frontal_global.new_zeros(frontal_global.shape).index_copy(0, lateral_index, lateral_global)
    fused_global = (frontal_global + lat_global) / (1.0 + has.to(frontal_global.dtype)).unsqueeze(-1)
    if frontal_pos is not None:
        frontal_regions = frontal_regions + frontal_pos
    if lateral_pos is not None:
        lateral_regions = lateral_regions + lateral_pos
    lat_regions = frontal_regions.new_zeros((b, n_lat, frontal_regions.shape[-1]))
    lat_regions = lat_regions.index_copy(0, lateral_index, lateral_regions)
    mask = torch.cat([torch.ones(frontal_regions.shape[:2], dtype=torch.bool, device=has.device),
                      has.unsqueeze(1).expand(b, n_lat)], dim=1)
    return fused_global, torch.cat([frontal_regions, lat_regions], dim=1), mask


class MultiViewEncoder(LocalDualEncoder):
    OPTIONS = LocalDualEncoder.OPTIONS | {"lateral_encoder", "positional_encoding"}
    DDP_FIND_UNUSED = True

    def __init__(self, config: dict):
        super().__init__(config)
        lateral_cfg = dict(self.options.get("lateral_encoder") or self.cfg.image_encoder)
        self.lateral_encoder = build_image_encoder(lateral_cfg)
        if self.lateral_encoder.in_chans != self.image_encoder.in_chans:
            raise ValueError(f"lateral encoder has in_chans={self.lateral_encoder.in_chans}, the frontal one "
                             f"{self.image_encoder.in_chans}; both views are preprocessed alike")
        self.lateral_proj = build_head(self.lateral_encoder.global_dim, **self.cfg.projection)
        head = dict(self.options.get("local_projection") or self.cfg.projection)
        self.lateral_region_proj = TokenProjection(self.lateral_encoder.local_dim, **head)
        self.positional_encoding = bool(self.options.get("positional_encoding", True))

    def _positions(self, grid: tuple[int, int], like: torch.Tensor) -> torch.Tensor | None:
        if not self.positional_encoding:
            return None
        return sincos_2d(*grid, like.shape[-1], device=like.device, dtype=like.dtype)

    def outputs(self, batch: dict, img: ImageFeatures, txt: TextFeatures) -> dict:
        out = super().outputs(batch, img, txt)
        lateral = batch["lateral"]
        if lateral.shape[0]:
            lat = self.lateral_encoder(lateral)
            lat_global = self.lateral_proj(lat.global_features)
            lat_regions, lat_grid = self.lateral_region_proj(lat.local_features), lat.grid
        else:  # no study of this batch has a lateral view (laterals are preprocessed like the frontals)
            lat_grid = self.lateral_encoder.feature_grid(batch["frontal"].shape[-2:])
            lat_global = out["image_emb"].new_zeros((0, out["image_emb"].shape[-1]))
            lat_regions = out["region_emb"].new_zeros((0, lat_grid[0] * lat_grid[1], out["region_emb"].shape[-1]))
        fused_global, regions, mask = fuse_views(
            out["image_emb"], out["region_emb"], lat_global, lat_regions, batch["lateral_index"],
            self._positions(img.grid, out["region_emb"]), self._positions(lat_grid, out["region_emb"]))
        # the [CLS] attention covers the frontal patches only: the fused regions are weighted uniformly
        out.update(image_emb=fused_global, region_emb=regions, region_mask=mask, region_attn=None)
        return out
