"""SISTA: semantics-aware instance and sparse token alignments (2026; no public code; design in ``docs/sista.md``).

The model is :class:`LocalDualEncoder` (global image and report embeddings, projected patches and words) plus the two
inputs SISTA's losses need:

- ``report_sim_emb [B, E]``: detached report features from which SIA measures how alike two reports are: the
  pooled output of the model's own text encoder (``similarity_encoder: self``), of a frozen copy of it taken at
  initialisation (``frozen``: the pre-trained text model's notion of similarity) or of an exponential moving
  average of it (``ema``, decay ``ema_decay``: a slowly moving, more stable similarity, as MoCo's key encoder).
  The text encoder's features, not the projected embedding: a projection head starts random, and its copy would
  measure nothing at first;
- ``content_word_mask [B, W]``: the real words that are not stop words (``stop_words``: articles, copulas,
  prepositions, punctuation; negations are kept, they change what a finding phrase means), which STA aligns.

The report labeler's finding vectors, SIA's other similarity source, come from the data pipeline
(``data.targets: [report_findings]``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from cxrvlp.encoders import ImageFeatures, TextFeatures
from cxrvlp.encoders.words import merge_tokens
from cxrvlp.methods.local_dual_encoder import LocalDualEncoder
from cxrvlp.methods.registry import register_model
from cxrvlp.recipe import RecipeConfig

STOP_WORDS = ("a", "an", "the", "is", "are", "was", "were", "be", "been", "of", "in", "on", "at", "to", "for", "with",
              "and", "or", "as", "by", "from", "this", "that", "these", "there", "it", "its", "which", "has", "have",
              ".", ",", ";", ":", "(", ")", "-", "/")
SIMILARITY_ENCODERS = ("self", "frozen", "ema")


@register_model("sista")
class SISTAModel(LocalDualEncoder):
    @dataclass
    class Options(LocalDualEncoder.Options):
        similarity_encoder: str = "ema"
        ema_decay: float = 0.995
        stop_words: list = field(default_factory=lambda: list(STOP_WORDS))

    def __init__(self, cfg: RecipeConfig, outputs: frozenset[str] = frozenset()):
        super().__init__(cfg, outputs)
        opts = self.options
        if opts.similarity_encoder not in SIMILARITY_ENCODERS:
            raise ValueError(f"similarity_encoder must be one of {SIMILARITY_ENCODERS}, got "
                             f"{opts.similarity_encoder!r}")
        if not 0.0 <= opts.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {opts.ema_decay}")
        self.similarity_tower = None
        if opts.similarity_encoder != "self" and "report_sim_emb" in self.outputs_needed:
            self.similarity_tower = copy.deepcopy(self.text_encoder).requires_grad_(False)
        tokenizer = self.text_encoder.tokenizer
        stop = torch.zeros(len(tokenizer), dtype=torch.bool)
        for word in opts.stop_words:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:  # a stop word the tokenizer splits cannot be told apart from a word piece
                stop[ids[0]] = True
        self.register_buffer("stop_token", stop, persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.similarity_tower is not None:
            self.similarity_tower.eval()  # no dropout in the similarity it gives
        return self

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.options.ema_decay
        for ema, live in zip(self.similarity_tower.parameters(), self.text_encoder.parameters()):
            ema.lerp_(live.detach(), 1.0 - decay)
        for ema, live in zip(self.similarity_tower.buffers(), self.text_encoder.buffers()):
            ema.copy_(live)

    @torch.no_grad()
    def report_similarity_embedding(self, batch: dict, txt: TextFeatures) -> torch.Tensor:
        if self.similarity_tower is None:
            return txt.global_features.detach()
        if self.options.similarity_encoder == "ema" and self.training:
            self._update_ema()
        return self.similarity_tower(batch["input_ids"], batch["attention_mask"]).global_features

    def content_words(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      word_mask: torch.Tensor) -> torch.Tensor:
        """``[B, W]``: real words not all of whose pieces are stop tokens."""
        index, valid = self.word_merger.word_index(input_ids, attention_mask)
        stop = merge_tokens(self.stop_token[input_ids].float().unsqueeze(-1), index, valid, "sum").squeeze(-1)
        pieces = merge_tokens(valid.float().unsqueeze(-1), index, valid, "sum").squeeze(-1)
        return word_mask & (stop < pieces)

    def outputs(self, batch: dict, img: ImageFeatures, txt: TextFeatures) -> dict:
        out = super().outputs(batch, img, txt)
        out["content_word_mask"] = self.content_words(batch["input_ids"], txt.attention_mask, out["word_mask"])
        if "report_sim_emb" in self.outputs_needed:
            out["report_sim_emb"] = self.report_similarity_embedding(batch, txt)
        return out
