"""The image-text dual encoder (ConVIRT, CLIP-style): encoders + projection heads, no loss of its own.

``forward(batch)`` returns the output dict that objectives read by key (see ``cxrvlp.objectives.registry``):
``image_emb [B, D]``, ``text_emb [B, D]`` (projected, not yet normalised), ``image_local [B, N, C]``,
``text_tokens [B, T, C]``, ``text_mask [B, T]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.encoders import ImageFeatures, TextFeatures, build_image_encoder, build_text_encoder
from cxrvlp.layers.projection import build_head
from cxrvlp.methods.registry import parse_options, register_model
from cxrvlp.recipe import RecipeConfig


@register_model("dual_encoder")
class DualEncoder(nn.Module):
    EMBEDS_LATERAL = False  # embed_study reads the lateral views
    # some batches leave parameters out of the loss (e.g. one without any lateral view): DDP must look for them
    DDP_FIND_UNUSED = False

    @dataclass
    class Options:
        """The dual encoder has no options."""

    def __init__(self, cfg: RecipeConfig, outputs: frozenset[str] = frozenset()):
        super().__init__()
        self.cfg = cfg
        self.options = parse_options(self.Options, cfg)
        self.outputs_needed = frozenset(outputs)
        self.image_encoder = build_image_encoder(self.cfg.image_encoder)
        self.text_encoder = build_text_encoder(self.cfg.text_encoder)
        self.image_proj = build_head(self.image_encoder.global_dim, **self.cfg.projection)
        self.text_proj = build_head(self.text_encoder.global_dim, **self.cfg.projection)

    @property
    def embed_dim(self) -> int:
        return int(self.cfg.projection.get("dim", 512))

    def output_dims(self) -> dict[str, int]:
        """Width of each embedding output, for objectives that need it (prototypes, similarity heads)."""
        return {"image_emb": self.embed_dim, "text_emb": self.embed_dim}

    # -- encoding (used by training and by evaluation) ------------------------------------------------------
    def encode_image(self, images: torch.Tensor) -> tuple[torch.Tensor, object]:
        feats = self.image_encoder(images)
        return self.image_proj(feats.global_features), feats

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, object]:
        feats = self.text_encoder(input_ids, attention_mask)
        return self.text_proj(feats.global_features), feats

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encode_image(images)[0], dim=-1)

    @torch.no_grad()
    def embed_study(self, batch: dict) -> torch.Tensor:
        """A study's image embedding for zero-shot and retrieval: its frontal view here; multi-view models with a
        fused embedding override this (and set ``EMBEDS_LATERAL`` so that evaluation loads the laterals)."""
        return self.embed_images(batch["frontal"])

    @torch.no_grad()
    def embed_texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encode_text(input_ids, attention_mask)[0], dim=-1)

    def forward(self, batch: dict) -> dict:
        img = self.image_encoder(batch["frontal"])
        txt = self.text_encoder(batch["input_ids"], batch["attention_mask"])
        return self.outputs(batch, img, txt)

    def outputs(self, batch: dict, img: ImageFeatures, txt: TextFeatures) -> dict:
        """The output dict from the encoders' features (subclasses add entries)."""
        return {"image_emb": self.image_proj(img.global_features), "text_emb": self.text_proj(txt.global_features),
                "image_local": img.local_features, "text_tokens": txt.token_features, "text_mask": txt.attention_mask}
