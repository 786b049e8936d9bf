"""The image-text dual encoder that recipes configure: encoders + projection heads + a sum of objectives.

``forward(batch)`` returns the output dict that objectives read by key (see ``cxrvlp.objectives.registry``):
``image_emb [B, D]``, ``text_emb [B, D]`` (projected, not yet normalised), ``image_local [B, N, C]``,
``text_tokens [B, T, C]``, ``text_mask [B, T]``.
"""
from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from cxrvlp.encoders import ImageFeatures, TextFeatures, build_image_encoder, build_text_encoder
from cxrvlp.methods.heads import build_head
from cxrvlp.objectives import build_objectives
from cxrvlp.training.config import RecipeConfig, from_dict
from cxrvlp.training.schedule import build_optimizer


class DualEncoder(L.LightningModule):
    EMBEDS_LATERAL = False  # embed_study reads the lateral views
    # some batches leave parameters out of the loss (e.g. one without any lateral view): DDP must look for them
    DDP_FIND_UNUSED = False

    def __init__(self, config: dict):
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg: RecipeConfig = from_dict(config)
        self.image_encoder = build_image_encoder(self.cfg.image_encoder)
        self.text_encoder = build_text_encoder(self.cfg.text_encoder)
        self.image_proj = build_head(self.image_encoder.global_dim, **self.cfg.projection)
        self.text_proj = build_head(self.text_encoder.global_dim, **self.cfg.projection)
        self.objectives = build_objectives(self.cfg.objectives)

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

    # -- training ---------------------------------------------------------------------------------------------
    def _losses(self, batch: dict, stage: str) -> torch.Tensor:
        out = self(batch)
        terms = {name: obj(out) for name, obj in self.objectives.items()}
        total = sum(self.objectives[name].weight * value for name, value in terms.items())
        bs = batch["frontal"].shape[0]
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, batch_size=bs, sync_dist=stage != "train")
        self.log(f"{stage}/loss", total, batch_size=bs, prog_bar=True, sync_dist=stage != "train")
        return total

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._losses(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._losses(batch, "val")

    def on_after_backward(self) -> None:
        # an objective may keep its own parameters fixed for its first epochs (MGCA's prototypes)
        for objective in self.objectives.values():
            frozen = getattr(objective.loss, "frozen_parameters", None)
            for p in frozen(self.current_epoch) if frozen is not None else ():
                p.grad = None

    def configure_optimizers(self):
        return build_optimizer(self, self.cfg.optim, int(self.trainer.estimated_stepping_batches))
