"""Image and text encoders behind name registries (timm / transformers, local weights only).

>>> img_enc = build_image_encoder({"name": "efficientnet_lite0", "pretrained": "imagenet-offline"})
>>> out = img_enc(images)            # ImageFeatures: global_features [B, Dg], local_features [B, N, Dl], grid
>>> txt_enc = build_text_encoder({"name": "minilm"})
>>> tout = txt_enc(**txt_enc.tokenize(["no pleural effusion."]))   # TextFeatures
"""
from __future__ import annotations

from collections.abc import Mapping

from . import image as _image  # noqa: F401  (registers the image encoders)
from . import text as _text  # noqa: F401  (registers the text encoders)
from .checkpoint import CheckpointMismatchError, LoadReport, read_state_dict
from .features import ImageFeatures, TextFeatures
from .image import TimmCNNEncoder, TimmImageEncoder, TimmSwinEncoder, TimmViTEncoder, timm_cnn, timm_swin, timm_vit
from .registry import (
    IMAGE_ENCODERS,
    TEXT_ENCODERS,
    list_image_encoders,
    list_text_encoders,
    register_image_encoder,
    register_text_encoder,
)
from .text import HFTextEncoder


def build_image_encoder(cfg: Mapping | str) -> TimmImageEncoder:
    """Build a registered image encoder from ``{"name": ..., **options}`` (or just a name)."""
    return IMAGE_ENCODERS.build(cfg)


def build_text_encoder(cfg: Mapping | str) -> HFTextEncoder:
    """Build a registered text encoder from ``{"name": ..., **options}`` (or just a name)."""
    return TEXT_ENCODERS.build(cfg)


__all__ = [
    "CheckpointMismatchError", "HFTextEncoder", "ImageFeatures", "LoadReport", "TextFeatures", "TimmCNNEncoder",
    "TimmImageEncoder", "TimmSwinEncoder", "TimmViTEncoder", "build_image_encoder", "build_text_encoder",
    "list_image_encoders", "list_text_encoders", "read_state_dict", "register_image_encoder",
    "register_text_encoder", "timm_cnn", "timm_swin", "timm_vit",
]
