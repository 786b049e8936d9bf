"""What :func:`cxrvlp.load` returns: the two towers and their projections as one plain ``nn.Module``, open_clip style.

``encode_image(x) -> [B, D]`` and ``encode_text(tokens) -> [B, D]`` give the joint-space embeddings (L2-normalise
them, or pass ``normalize=True``); ``image_encoder`` is the cxrvlp image encoder (``ImageFeatures``: global vector,
local tokens and their grid, ``forward_intermediates`` for dense tasks; ``.model`` the timm module), ``text_encoder``
the transformers wrapper (``.model``, ``.tokenizer``). ``logit_scale`` is 1 / the temperature of the recipe's
image-text contrastive objective when it has one (else ``None``).

Multi-view recipes (LIMITR, F-L) fuse a lateral view into the study embedding; ``encode_image`` is the frontal
view's projected embedding, the one their image-text objective reads for a study without a lateral view. The whole
recipe model (laterals, local heads, F-L's decoders) is :func:`cxrvlp.methods.loading.load_model` of the checkpoint.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TEXT_PREFIXES = ("text_encoder.", "text_proj.")


class TextTokenizer:
    """``tokenizer(texts) -> {"input_ids", "attention_mask"}`` ([B, T] long, padded to the longest, truncated to the
    length the model was trained with); ``tokenizer.tokenizer`` is the transformers tokenizer."""

    def __init__(self, tokenizer, max_length: int, padding: str = "longest"):
        self.tokenizer, self.max_length, self.padding = tokenizer, int(max_length), padding

    def __call__(self, texts: str | list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        enc = self.tokenizer(texts, padding=self.padding, truncation=True, max_length=max_length or self.max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def __repr__(self) -> str:
        return (f"TextTokenizer({type(self.tokenizer).__name__}, vocab={len(self.tokenizer)}, "
                f"max_length={self.max_length})")


class CXRModel(nn.Module):
    """Image tower + projection and (unless loaded with ``text=False``) text tower + projection.

    ``config`` is the export's ``config.json`` content (recipe, encoders, preprocessing); the state dict holds exactly
    ``image_encoder.*``, ``image_proj.*``, ``text_encoder.*``, ``text_proj.*``."""

    def __init__(self, image_encoder: nn.Module, image_proj: nn.Module, text_encoder: nn.Module | None = None,
                 text_proj: nn.Module | None = None, *, config: dict, logit_scale: float | None = None):
        super().__init__()
        if (text_encoder is None) != (text_proj is None):
            raise ValueError("text_encoder and text_proj go together")
        self.image_encoder, self.image_proj = image_encoder, image_proj
        self.text_encoder, self.text_proj = text_encoder, text_proj
        self.config = config
        self.logit_scale = None if logit_scale is None else float(logit_scale)
        self.eval()

    @property
    def embed_dim(self) -> int:
        return int(self.config["embed_dim"])

    @property
    def has_text(self) -> bool:
        return self.text_encoder is not None

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """``images [B, C, crop, crop]`` (from the ``preprocess`` that came with the model) → ``[B, D]``."""
        if images.ndim == 3:
            images = images[None]
        emb = self.image_proj(self.image_encoder(images).global_features)
        return F.normalize(emb, dim=-1) if normalize else emb

    def encode_text(self, tokens, normalize: bool = False) -> torch.Tensor:
        """``tokens``: the tokenizer's dict, or ``input_ids [B, T]`` (padding found from the pad id) → ``[B, D]``."""
        if not self.has_text:
            raise RuntimeError("this model was loaded with text=False: no text tower (load it again with text=True)")
        if isinstance(tokens, torch.Tensor):
            ids, mask = tokens, None
        else:
            ids, mask = tokens["input_ids"], tokens.get("attention_mask")
        emb = self.text_proj(self.text_encoder(ids, mask).global_features)
        return F.normalize(emb, dim=-1) if normalize else emb

    def forward(self, images: torch.Tensor | None = None, tokens=None):
        """``(image embeddings, text embeddings, logit scale)``, each L2-normalised (None where not given)."""
        img = self.encode_image(images, normalize=True) if images is not None else None
        txt = self.encode_text(tokens, normalize=True) if tokens is not None else None
        return img, txt, self.logit_scale

    def load_weights(self, state: dict, source: str) -> None:
        """Load ``state`` strictly: every key of this model must be there and nothing else (the text tower's keys
        are skipped, not unexpected, in a model loaded with ``text=False``)."""
        if not self.has_text:
            state = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIXES)}
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in sorted(set(own) & set(state)) if tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or unexpected or shapes:
            parts = [f"missing {len(missing)} key(s) {missing[:8]}" if missing else "",
                     f"unexpected {len(unexpected)} key(s) {unexpected[:8]}" if unexpected else "",
                     f"shape mismatches {shapes[:8]}" if shapes else ""]
            raise RuntimeError(f"{source}: weights do not match the model: " + "; ".join(p for p in parts if p))
        self.load_state_dict(state, strict=True)
        self.eval()
