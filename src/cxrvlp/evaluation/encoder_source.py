"""What a downstream evaluation judges: the image encoder of a checkpoint (any recipe), or a reference row: ImageNet
weights (EfficientNet-Lite0, offline) or a random initialisation. Its preprocessing and identity travel with it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cxrvlp.data.transforms import Preprocess
from cxrvlp.encoders import build_image_encoder

REFERENCE_INITS = ("imagenet", "random")
IMAGENET_OFFLINE = {"efficientnet_lite0": "imagenet-offline"}  # encoders whose ImageNet weights ship offline
DEFAULT_IMAGE_SIZE = 224


@dataclass
class EncoderSource:
    encoder: torch.nn.Module  # a cxrvlp image encoder (ImageFeatures out)
    preprocess: Preprocess
    identity: dict  # what was evaluated; hashed into feature-cache keys and written into every protocol
    model: object | None = None  # the whole image-text model of a checkpoint (text tasks), else None

    @property
    def label(self) -> str:
        return model_label(self.identity)


def model_label(identity: dict) -> str:
    """Name of a model in result tables: ``recipe (run folder, sha256[:8])`` or ``imagenet efficientnet_lite0``."""
    if identity["init"] == "checkpoint":
        run = Path(identity["checkpoint"]).parent.parent.name
        return f"{identity['recipe']} ({run}, {identity['checkpoint_sha256'][:8]})"
    return f"{identity['init']} {identity['encoder']}"


def resolve_encoder(init: str, encoder: str = "efficientnet_lite0", image_size: int | None = None,
                    seed: int = 0) -> EncoderSource:
    """``init``: a ``.ckpt`` of ``cxrvlp pretrain``, ``"imagenet"`` or ``"random"`` (``encoder`` names the
    architecture of the last two). ``image_size`` evaluates on whole ``image_size``² images (no crop); by default a
    checkpoint keeps its recipe's resize/crop and a reference row uses 224 px."""
    if init in REFERENCE_INITS:
        if init == "imagenet" and encoder not in IMAGENET_OFFLINE:
            raise ValueError(f"--init imagenet: offline ImageNet weights exist for {sorted(IMAGENET_OFFLINE)} only, "
                             f"not {encoder!r} (give a checkpoint, or --init random)")
        torch.manual_seed(seed)
        enc = build_image_encoder({"name": encoder, "pretrained": IMAGENET_OFFLINE[encoder] if init == "imagenet"
                                   else None})
        size = image_size or DEFAULT_IMAGE_SIZE
        resize, crop = size, size
        identity = {"init": init, "encoder": encoder, "seed": seed if init == "random" else None}
        model = None
    else:
        from cxrvlp.methods.loading import load_model

        model = load_model(init)
        enc = model.image_encoder
        resize, crop = (image_size, image_size) if image_size else (model.cfg.data.resize, model.cfg.data.crop)
        identity = {"init": "checkpoint", "checkpoint": str(init), "checkpoint_sha256": model.checkpoint_sha256,
                    "recipe": model.cfg.name, "encoder": enc.name}
    enc.eval()
    dc = enc.data_config
    pre = Preprocess(resize=resize, crop=crop, mean=float(dc["mean"][0]), std=float(dc["std"][0]), augment=False)
    return EncoderSource(enc, pre, identity, model)
