"""Dual encoder with local embeddings: image regions and report words in a shared space (GLoRIA, MGCA).

Adds to :class:`DualEncoder`'s output dict:

- ``region_emb [B, N, D]``: projected local image features (ResNet layer3 grid, ViT patches), row-major grid;
  ``region_mask [B, N]`` (bool, all true for one view); ``region_attn [B, N]`` or ``None``: the ViT's last-layer
  [CLS] attention to each patch (only with ``attentions: true`` on an encoder that has it).
- ``word_emb [B, W, D]``: projected word features (word pieces merged, :mod:`cxrvlp.encoders.words`);
  ``word_mask [B, W]``; ``word_attn [B, W]`` or ``None``: the text encoder's last-layer [CLS] attention summed
  over each word's pieces (with ``attentions: true``). ``W`` is the token length (an upper bound; see the mask).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cxrvlp.encoders import ImageFeatures, TextFeatures
from cxrvlp.encoders.words import WordPieceMerger
from cxrvlp.layers.projection import TokenProjection
from cxrvlp.methods.dual_encoder import DualEncoder
from cxrvlp.methods.maps import WordPatchMaps, cosine_maps, token_word_index
from cxrvlp.methods.registry import register_model
from cxrvlp.recipe import RecipeConfig


def keep_first_layers(text_encoder, k: int) -> None:
    """Truncate a transformers encoder to its first ``k`` layers (re-applying its trainable-layer setting)."""
    layers = text_encoder.layers
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(layers):
        raise ValueError(f"text_layers must be an int in [1, {len(layers)}], got {k!r}")
    del layers[k:]
    text_encoder.model.config.num_hidden_layers = k
    text_encoder.set_trainable_layers(text_encoder.trainable_layers)


@register_model("local_dual_encoder")
class LocalDualEncoder(DualEncoder):
    @dataclass
    class Options:
        """local_projection: head for regions and words (build_head kwargs; default: the recipe's ``projection``).
        word_reduce: "sum" (GLoRIA, MGCA, LIMITR) or "mean" of a word's pieces. attentions: compute [CLS]
        attentions (MGCA's token weights; eager text attention, a little slower). text_layers: keep only the
        first k transformer layers of the text encoder (MGCA: 6 of Bio_ClinicalBERT)."""

        local_projection: dict | None = None
        word_reduce: str = "sum"
        attentions: bool = False
        text_layers: int | None = None

    def __init__(self, cfg: RecipeConfig, outputs: frozenset[str] = frozenset()):
        super().__init__(cfg, outputs)
        opts = self.options
        if opts.text_layers is not None:
            keep_first_layers(self.text_encoder, opts.text_layers)
        head = self.local_head_config()
        self.region_proj = TokenProjection(self.image_encoder.local_dim, **head)
        self.word_proj = TokenProjection(self.text_encoder.token_dim, **head)
        self.word_merger = WordPieceMerger(self.text_encoder.tokenizer, opts.word_reduce)
        self.text_attentions = bool(opts.attentions)
        self.image_attentions = self.text_attentions and self.image_encoder.supports_attentions

    def local_head_config(self) -> dict:
        return dict(self.options.local_projection or self.cfg.projection)

    def output_dims(self) -> dict[str, int]:
        local = int(self.local_head_config().get("dim", 512))
        return {**super().output_dims(), "region_emb": local, "word_emb": local}

    def forward(self, batch: dict) -> dict:
        img = self.image_encoder(batch["frontal"], return_attentions=self.image_attentions)
        txt = self.text_encoder(batch["input_ids"], batch["attention_mask"], return_attentions=self.text_attentions)
        return self.outputs(batch, img, txt)

    def outputs(self, batch: dict, img: ImageFeatures, txt: TextFeatures) -> dict:
        out = super().outputs(batch, img, txt)
        word_mask, words, word_attn = self.word_merger(batch["input_ids"], txt.attention_mask, txt.token_features,
                                                       txt.attentions)
        regions = self.region_proj(img.local_features)
        out.update(region_emb=regions, region_mask=regions.new_ones(regions.shape[:2], dtype=torch.bool),
                   region_attn=img.attentions, word_emb=self.word_proj(words), word_mask=word_mask,
                   word_attn=word_attn)
        return out

    @torch.no_grad()
    def word_patch_maps(self, batch: dict) -> WordPatchMaps:
        """Cosine similarity of the projected words and the projected patches of each view (methods/maps.py)."""
        out = self(batch)
        h, w = self.image_encoder.feature_grid(tuple(batch["frontal"].shape[-2:]))
        regions, mask = out["region_emb"], out["region_mask"]
        views = {"frontal": cosine_maps(out["word_emb"], regions[:, : h * w], (h, w))}
        view_mask = {"frontal": mask[:, 0]}
        lateral = regions[:, h * w:]
        if lateral.shape[1]:  # multi-view models append the lateral regions
            grid = self.lateral_grid(batch)
            views["lateral"] = cosine_maps(out["word_emb"], lateral, grid)
            view_mask["lateral"] = mask[:, h * w]
        index = token_word_index(self.word_merger, batch["input_ids"], batch["attention_mask"])
        return WordPatchMaps(index, out["word_mask"], views, view_mask)
