"""F-L: multi-view chest X-ray VLP with key-semantics MLM, frontal-lateral alignment and high-order semantic
alignment (Gong et al., IEEE TMI 2026; formulas and departures from the public code in ``docs/fl.md``).

A frontal encoder (projected CLS / pooled global, projected patches), a lateral encoder (separate or shared weights,
optionally frozen) whose tokens go through an adapter to the shared width, and a text encoder (projected [CLS],
projected tokens). Laterals arrive packed (``lateral [L, ...]``, ``lateral_index [L]``); a study without one is
never given a stand-in image: its lateral entries are zero and ``lateral_mask`` false.

Output dict (objectives read it by key):

- ``image_emb [B, D]`` frontal global; ``lateral_emb [B, D]`` mean of the adapted lateral tokens (0 where none),
  ``lateral_mask [B]``; ``fused_emb [B, D]`` = Linear([frontal; lateral]) (a single-view study's lateral half is
  0, so it is the frontal embedding through the same layer); ``text_emb [B, D]``; ``text_mask [B, T]``;
- with an objective reading them: ``mlm_logits [M, vocab]``, ``mlm_targets [M]`` (the masked positions only);
  ``fla_frontal``, ``fla_lateral [L, T, D]`` and ``fla_mask [L, T]`` for the studies with a lateral view.

Zero-shot evaluation and retrieval embed a study with ``fused_emb`` (:meth:`FLModel.embed_study`).

Options: :class:`FLModel.Options`. The MLM branch reads the batch targets ``mlm_input_ids`` / ``mlm_labels`` of the
``pathology_masking`` target builder (:mod:`cxrvlp.data.targets`), drawn in the data pipeline from each item's seed.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.encoders import build_image_encoder
from cxrvlp.encoders.words import WordPieceMerger
from cxrvlp.layers.aggregation import TokenAggregation
from cxrvlp.layers.attention import QueryDecoder
from cxrvlp.layers.mlm_head import MLMHead
from cxrvlp.layers.views import encode_laterals
from cxrvlp.methods.dual_encoder import DualEncoder
from cxrvlp.methods.fl_modules import aggregated_token_count, lateral_adapter, select_key_tokens
from cxrvlp.methods.maps import WordPatchMaps, cosine_maps, token_word_index
from cxrvlp.methods.registry import register_model
from cxrvlp.recipe import RecipeConfig
from cxrvlp.text.masking import IGNORE_INDEX

log = logging.getLogger(__name__)


@dataclass
class ViewTokens:
    """Both views of a batch in the shared width ``D``; lateral entries are zero where ``lateral_mask`` is false."""

    frontal_emb: torch.Tensor  # [B, D]
    frontal_tokens: torch.Tensor  # [B, N_f, D]
    frontal_grid: tuple[int, int]
    lateral_emb: torch.Tensor  # [B, D]
    lateral_tokens: torch.Tensor  # [B, N_l, D]
    lateral_mask: torch.Tensor  # [B] bool
    lateral_index: torch.Tensor  # [L]: the studies with a lateral view
    lateral_grid: tuple[int, int]
    fused_emb: torch.Tensor  # [B, D]

    def all_tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Frontal then lateral tokens ``[B, N_f + N_l, D]`` and their mask."""
        b, n_f, n_l = self.frontal_tokens.shape[0], self.frontal_tokens.shape[1], self.lateral_tokens.shape[1]
        mask = torch.cat([self.lateral_mask.new_ones((b, n_f)), self.lateral_mask.unsqueeze(1).expand(b, n_l)], 1)
        return torch.cat([self.frontal_tokens, self.lateral_tokens], dim=1), mask


@register_model("fl")
class FLModel(DualEncoder):
    EMBEDS_LATERAL = True
    DDP_FIND_UNUSED = True  # and a CNN lateral encoder's stages past its token grid never reach a loss

    @dataclass
    class Options:
        """lateral_encoder: image encoder config of the lateral view (default: a copy of image_encoder's).
        share_encoders: one encoder for both views (excludes lateral_encoder / freeze_lateral). freeze_lateral: no
        gradient into the lateral encoder, kept in eval mode (F-L: a frozen Swin-T). key_fraction: share of each
        study's image tokens kept as key tokens (F-L 0.8). aggregation_ratio: the learned aggregation maps the
        kept tokens to this share of their number (F-L's code: 0.7, so 137 of the 196 kept of 245 tokens);
        aggregated_tokens: an explicit count instead. aggregation_scale: the aggregation's learnable logit scale
        (F-L's code; checkpoints of cxrvlp before 0.2 have none). heads: attention heads of the decoders (F-L 8).
        mlm_layers / fla_layers: self-attention layers after the MLM cross-attention (4) and in the
        frontal-lateral query decoder (2)."""

        lateral_encoder: dict | None = None
        share_encoders: bool = False
        freeze_lateral: bool = False
        key_fraction: float = 0.8
        aggregation_ratio: float = 0.7
        aggregated_tokens: int | None = None
        aggregation_scale: bool = True
        heads: int = 8
        mlm_layers: int = 4
        fla_layers: int = 2

    def __init__(self, cfg: RecipeConfig, outputs: frozenset[str] = frozenset()):
        super().__init__(cfg, outputs)
        opts = self.options
        dim = self.embed_dim
        self.share_encoders, self.freeze_lateral = bool(opts.share_encoders), bool(opts.freeze_lateral)
        if self.share_encoders and (self.freeze_lateral or opts.lateral_encoder):
            raise ValueError("model_options: share_encoders uses the frontal encoder for both views; it excludes "
                             "lateral_encoder and freeze_lateral")
        self.lateral_encoder = None
        if not self.share_encoders:
            self.lateral_encoder = build_image_encoder(dict(opts.lateral_encoder or self.cfg.image_encoder))
            if self.lateral_encoder.in_chans != self.image_encoder.in_chans:
                raise ValueError(f"lateral encoder has in_chans={self.lateral_encoder.in_chans}, the frontal one "
                                 f"{self.image_encoder.in_chans}; both views are preprocessed alike")
            if self.freeze_lateral:
                self.lateral_encoder.requires_grad_(False)
        lateral = self.lateral_view_encoder
        self.patch_proj = nn.Linear(self.image_encoder.local_dim, dim)
        self.lateral_adapter = lateral_adapter(lateral.local_dim, dim)
        self.fusion = nn.Linear(2 * dim, dim)
        self.token_proj = nn.Linear(self.text_encoder.token_dim, dim)
        self.word_merger = WordPieceMerger(self.text_encoder.tokenizer, "mean")  # for word maps only

        self.key_fraction = float(opts.key_fraction)
        self.aggregation = self.mlm_decoder = self.mlm_head = self.fla_decoder = None
        if "mlm_logits" in self.outputs_needed:
            if self.text_encoder.mask_token_id is None:
                raise ValueError("F-L's MLM needs a text tokenizer with a [MASK] token")
            self.aggregation = TokenAggregation(dim, self.aggregated_tokens(), learnable_scale=opts.aggregation_scale)
            self.mlm_decoder = QueryDecoder(dim, opts.heads, opts.mlm_layers)
            self.mlm_head = MLMHead(dim, self.text_encoder.vocab_size)
        if "fla_frontal" in self.outputs_needed:
            self.fla_decoder = QueryDecoder(dim, opts.heads, opts.fla_layers)
        if self.freeze_lateral and (opts.lateral_encoder or self.cfg.image_encoder).get("pretrained") is None:
            log.warning("F-L: the lateral encoder is frozen at its random initialisation (no 'pretrained' weights "
                        "in model_options.lateral_encoder); its tokens carry little information")

    def aggregated_tokens(self) -> int:
        """How many tokens the aggregation maps the key tokens to: the explicit ``aggregated_tokens``, else
        ``aggregation_ratio`` of the tokens kept from both views' grids at the recipe's crop size."""
        if self.options.aggregated_tokens is not None:
            return int(self.options.aggregated_tokens)
        crop = self.cfg.data.crop
        grids = (self.image_encoder.feature_grid(crop), self.lateral_view_encoder.feature_grid(crop))
        return aggregated_token_count(sum(math.prod(g) for g in grids), self.key_fraction,
                                      self.options.aggregation_ratio)

    def output_dims(self) -> dict[str, int]:
        d = self.embed_dim
        return {**super().output_dims(), "lateral_emb": d, "fused_emb": d}

    @property
    def lateral_view_encoder(self):
        return self.image_encoder if self.lateral_encoder is None else self.lateral_encoder

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_lateral:
            self.lateral_encoder.eval()
        return self

    # -- encoding ---------------------------------------------------------------------------------------------
    def encode_views(self, frontal: torch.Tensor, lateral: torch.Tensor, lateral_index: torch.Tensor) -> ViewTokens:
        f = self.image_encoder(frontal)
        frontal_emb, frontal_tokens = self.image_proj(f.global_features), self.patch_proj(f.local_features)
        b, dim = frontal_emb.shape
        lat = encode_laterals(self.lateral_view_encoder, lateral, lateral_index, b, tuple(frontal.shape[-2:]), None,
                              self.lateral_adapter, dim, dim, grad=not self.freeze_lateral)
        fused = self.fusion(torch.cat([frontal_emb, lat.global_features.to(frontal_emb.dtype)], dim=-1))
        return ViewTokens(frontal_emb, frontal_tokens, f.grid, lat.global_features, lat.local_features, lat.mask,
                          lat.index, lat.grid, fused)

    def encode_report(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """``(text_emb [B, D], projected tokens [B, T, D], token mask [B, T] bool)``."""
        txt = self.text_encoder(input_ids, attention_mask)
        return self.text_proj(txt.global_features), self.token_proj(txt.token_features), txt.attention_mask.bool()

    @torch.no_grad()
    def embed_study(self, batch: dict) -> torch.Tensor:
        views = self.encode_views(batch["frontal"], batch["lateral"], batch["lateral_index"])
        return F.normalize(views.fused_emb, dim=-1)

    def forward(self, batch: dict) -> dict:
        views = self.encode_views(batch["frontal"], batch["lateral"], batch["lateral_index"])
        text_emb, words, text_mask = self.encode_report(batch["input_ids"], batch["attention_mask"])
        out = {"image_emb": views.frontal_emb, "lateral_emb": views.lateral_emb, "lateral_mask": views.lateral_mask,
               "fused_emb": views.fused_emb, "text_emb": text_emb, "text_mask": text_mask}
        if self.mlm_decoder is not None:
            out.update(self.masked_language_modelling(batch, views, words, text_mask))
        if self.fla_decoder is not None:
            out.update(self.frontal_lateral_queries(views, words, text_mask))
        return out

    # -- branches -----------------------------------------------------------------------------------------------
    def masked_language_modelling(self, batch: dict, views: ViewTokens, words: torch.Tensor,
                                  text_mask: torch.Tensor) -> dict:
        """Key tokens of both views (scored against the study's own report) → learned aggregation + the merged
        token → the masked report attends over them → MLM logits at the masked positions."""
        if "mlm_input_ids" not in batch:
            raise KeyError("F-L's MLM reads the batch targets mlm_input_ids / mlm_labels: add "
                           "'pathology_masking' to the recipe's data.targets")
        labels = batch["mlm_labels"]
        masked = self.text_encoder.forward_uncached(batch["mlm_input_ids"], batch["attention_mask"])
        tokens, mask = views.all_tokens()
        key = select_key_tokens(tokens, mask, words, text_mask, self.key_fraction)
        context = torch.cat([self.aggregation(key.tokens, key.mask), key.merged.unsqueeze(1)], dim=1)
        context_mask = torch.cat([key.merged_mask.new_ones(context.shape[:1] + (context.shape[1] - 1,)),
                                  key.merged_mask.unsqueeze(1)], dim=1)
        hidden, _ = self.mlm_decoder(self.token_proj(masked.token_features), text_mask, context, context_mask)
        where = labels != IGNORE_INDEX
        return {"mlm_logits": self.mlm_head(hidden[where]), "mlm_targets": labels[where]}

    def frontal_lateral_queries(self, views: ViewTokens, words: torch.Tensor, text_mask: torch.Tensor,
                                return_weights: bool = False) -> dict:
        """The report tokens of each study with a lateral view read its frontal patches and, separately, its
        lateral tokens through the one shared query decoder."""
        idx = views.lateral_index
        queries, query_mask = words[idx], text_mask[idx]
        if not idx.numel():
            empty = queries.new_zeros(queries.shape)
            return {"fla_frontal": empty, "fla_lateral": empty, "fla_mask": query_mask}
        q_f, w_f = self.fla_decoder(queries, query_mask, views.frontal_tokens[idx], return_weights=return_weights)
        q_l, w_l = self.fla_decoder(queries, query_mask, views.lateral_tokens[idx], return_weights=return_weights)
        out = {"fla_frontal": q_f, "fla_lateral": q_l, "fla_mask": query_mask}
        if return_weights:
            out.update(fla_frontal_attention=w_f, fla_lateral_attention=w_l)
        return out

    @torch.no_grad()
    def word_patch_maps(self, batch: dict) -> WordPatchMaps:
        """Cosine similarity of each word (mean of its projected tokens) with the projected frontal patches and the
        adapted lateral tokens (methods/maps.py)."""
        views = self.encode_views(batch["frontal"], batch["lateral"], batch["lateral_index"])
        _, tokens, _ = self.encode_report(batch["input_ids"], batch["attention_mask"])
        word_mask, words, _ = self.word_merger(batch["input_ids"], batch["attention_mask"], tokens)
        maps = {"frontal": cosine_maps(words, views.frontal_tokens, views.frontal_grid),
                "lateral": cosine_maps(words, views.lateral_tokens, views.lateral_grid)}
        index = token_word_index(self.word_merger, batch["input_ids"], batch["attention_mask"])
        return WordPatchMaps(index, word_mask, maps, {"frontal": torch.ones_like(views.lateral_mask),
                                                      "lateral": views.lateral_mask})
