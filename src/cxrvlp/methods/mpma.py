"""MPMA: multi-task paired masking with alignment (IEEE TMM 2023; no public code; design in ``docs/mpma.md``).

One image-report pair is masked on both sides in the data pipeline (``data.targets: [paired_masking]``: hidden
patches ``mim_mask``, masked words ``mlm_input_ids`` / ``mlm_labels``). The masked pair goes through

1. the image encoder over the visible patches only (:meth:`~cxrvlp.encoders.TimmImageEncoder.forward_visible`:
   a ViT drops the hidden ones, a CNN sees them blanked) and the text encoder over the masked report;
2. memory-augmented cross-modal fusion (MA-CMF, :mod:`cxrvlp.layers.fusion`): both streams projected to the
   fusion width; ``memory_slots`` learned slots read the visible image (:class:`VisualMemory`); ``fusion_layers``
   blocks in which the text reads [image tokens; memory] and the image reads the text;
3. reconstruction: an MLM head on the fused text at the masked words (``mlm_logits``, ``mlm_targets``) and a light
   pixel decoder on the fused image tokens plus mask tokens (``mim_pred``; ``mim_target``: the normalised pixels
   of every patch; ``mim_mask``), so each modality is rebuilt with help from the other;

and the unmasked pair through the encoders for global and local alignment (GLA: ``image_emb``, ``text_emb``,
``region_emb``, ``word_emb`` as :class:`LocalDualEncoder`, read by InfoNCE and token alignment). The fused [CLS]
(``fused_emb [B, fusion_dim]``) is the multi-modal representation for downstream tasks (:meth:`fuse`).
A branch no objective reads is not built (MPMA without MIM has no pixel decoder) and not run.

Unpaired data (``data.unpaired: true``, ``data.collections``): a study without a report (an image archive) or
without an image (a report collection) is marked by the batch's ``has_image`` / ``has_report``; the model gives
``paired_mask [B]`` (both), which the GLA terms read, takes ``word_mask`` / ``region_mask`` of unpaired studies to
false (the token alignment skips them) and ``mim_mask`` to false on studies without an image (MLM needs nothing:
a study without a report has no word to mask).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cxrvlp.layers.fusion import FusionBlock, VisualMemory
from cxrvlp.layers.mlm_head import MLMHead
from cxrvlp.layers.patches import PixelDecoder, normalised_patches, patchify
from cxrvlp.methods.local_dual_encoder import LocalDualEncoder
from cxrvlp.methods.registry import register_model
from cxrvlp.recipe import RecipeConfig
from cxrvlp.text.masking import IGNORE_INDEX


@register_model("mpma")
class MPMAModel(LocalDualEncoder):
    @dataclass
    class Options(LocalDualEncoder.Options):
        """fusion_dim / fusion_layers / heads / fusion (``co_attention`` | ``merged``) of MA-CMF; memory_slots (0:
        no memory); text_reads_image / image_reads_text: the cross paths (ablation); decoder_width /
        decoder_layers / decoder_heads of the pixel decoder; norm_pixels: MAE's per-patch normalised target."""

        fusion_dim: int = 256
        fusion_layers: int = 2
        heads: int = 4
        fusion: str = "co_attention"
        memory_slots: int = 16
        text_reads_image: bool = True
        image_reads_text: bool = True
        decoder_width: int = 128
        decoder_layers: int = 1
        decoder_heads: int = 4
        norm_pixels: bool = True

    def __init__(self, cfg: RecipeConfig, outputs: frozenset[str] = frozenset()):
        super().__init__(cfg, outputs)
        opts, d = self.options, self.options.fusion_dim
        self.image_to_fusion = nn.Linear(self.image_encoder.local_dim, d)
        self.text_to_fusion = nn.Linear(self.text_encoder.token_dim, d)
        self.memory = VisualMemory(d, opts.memory_slots, opts.heads) if opts.memory_slots else None
        self.fusion = nn.ModuleList(FusionBlock(d, opts.heads, opts.fusion, text_reads_image=opts.text_reads_image,
                                                image_reads_text=opts.image_reads_text)
                                    for _ in range(opts.fusion_layers))
        self.mlm_head = MLMHead(d, self.text_encoder.vocab_size) if "mlm_logits" in self.outputs_needed else None
        self.pixel_decoder = None
        grid = self.image_encoder.feature_grid(self.cfg.data.crop)
        self.patch_size = self.image_encoder.reduction
        if "mim_pred" in self.outputs_needed:
            pixels = self.patch_size ** 2 * self.image_encoder.in_chans
            self.pixel_decoder = PixelDecoder(d, grid, pixels, opts.decoder_width, opts.decoder_layers,
                                              opts.decoder_heads)

    def output_dims(self) -> dict[str, int]:
        return {**super().output_dims(), "fused_emb": self.options.fusion_dim}

    def fuse(self, images: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             visible: torch.Tensor | None = None) -> dict:
        """MA-CMF over an image (only its ``visible [B, N]`` patches when given) and a report:
        ``{"text" [B, T, D], "image" [B, K, D], "token_index", "fused_emb" [B, D]}``."""
        if visible is None:
            feats = self.image_encoder(images)
        else:
            feats = self.image_encoder.forward_visible(images, visible)
        txt = self.text_encoder.forward_uncached(input_ids, attention_mask)
        image = self.image_to_fusion(feats.local_features)
        text = self.text_to_fusion(txt.token_features)
        text_mask = attention_mask.bool()
        image_mask = torch.ones(image.shape[:2], dtype=torch.bool, device=image.device)
        memory = self.memory(image, image_mask) if self.memory is not None else None
        for block in self.fusion:
            text, image = block(text, text_mask, image, image_mask, memory)
        return {"text": text, "image": image, "token_index": feats.token_index, "fused_emb": text[:, 0]}

    @torch.no_grad()
    def embed_fused(self, batch: dict) -> torch.Tensor:
        """The multi-modal representation of an image-report (or image-question) pair: the fused [CLS]."""
        return self.fuse(batch["frontal"], batch["input_ids"], batch["attention_mask"])["fused_emb"]

    def forward(self, batch: dict) -> dict:
        out = super().forward(batch)  # the unmasked pair: global and local alignment
        b = batch["frontal"].shape[0]
        has_image = batch.get("has_image", torch.ones(b, dtype=torch.bool)).to(out["image_emb"].device).bool()
        has_report = batch.get("has_report", torch.ones(b, dtype=torch.bool)).to(out["image_emb"].device).bool()
        paired = has_image & has_report
        out.update(paired_mask=paired, word_mask=out["word_mask"] & paired.unsqueeze(1),
                   region_mask=out["region_mask"] & paired.unsqueeze(1))
        if self.mlm_head is None and self.pixel_decoder is None:
            return out
        missing = [k for k in ("mim_mask", "mlm_input_ids", "mlm_labels") if k not in batch]
        if missing:
            raise KeyError(f"MPMA's reconstruction reads the batch targets {missing}: add 'paired_masking' to the "
                           "recipe's data.targets")
        hidden = batch["mim_mask"].bool()
        fused = self.fuse(batch["frontal"], batch["mlm_input_ids"], batch["attention_mask"],
                          visible=~hidden if self.pixel_decoder is not None else None)
        out["fused_emb"] = fused["fused_emb"]
        if self.mlm_head is not None:
            labels = batch["mlm_labels"]
            where = labels != IGNORE_INDEX
            out.update(mlm_logits=self.mlm_head(fused["text"][where]), mlm_targets=labels[where])
        if self.pixel_decoder is not None:
            images = batch["frontal"]
            target = normalised_patches(images, self.patch_size) if self.options.norm_pixels else \
                patchify(images, self.patch_size)
            out.update(mim_pred=self.pixel_decoder(fused["image"], fused["token_index"], hidden),
                       mim_target=target, mim_mask=hidden & has_image.unsqueeze(1))
        return out
