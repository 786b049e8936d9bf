"""Frozen-encoder features, computed once per (encoder, data, preprocessing) and cached on disk.

Two kinds:

- ``global``: ``[N, D]`` pooled image vectors (linear probe).
- ``pyramid``: multi-scale maps ``[N, C_l, H_l, W_l]`` (segmentation, detection). CNNs give their stride 4 / 8 /
  16 / 32 stages (timm ``forward_intermediates``); a ViT gives four evenly spaced blocks, all at its patch stride,
  which the dense heads resample into a pyramid (:func:`target_strides`), as ViTDet's simple feature pyramid does.

The cache key is the SHA-256 of the encoder identity (checkpoint hash, or init + architecture + seed), the image
paths in order, the preprocessing and the kind, so label fractions and seeds reuse one pass over the images.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from rich.progress import track
from torch.utils.data import DataLoader

from cxrvlp.data.dataset import StudyDataset
from cxrvlp.data.study import Study
from cxrvlp.evaluation.data import evaluated_image
from cxrvlp.evaluation.encoder_source import EncoderSource

PYRAMID_STRIDES = (4, 8, 16, 32)
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("CXRVLP_FEATURE_CACHE", Path.home() / ".cache" / "cxrvlp" / "features"))


def pyramid_indices(encoder) -> list[int]:
    """Which timm feature levels / blocks make the pyramid of ``encoder``."""
    if encoder.family == "vit":
        depth = len(encoder.model.blocks)
        return sorted({round(k * (depth - 1) / 3) for k in range(4)})
    info = encoder.model.feature_info
    picked = [i for i, f in enumerate(info) if f["reduction"] in PYRAMID_STRIDES]
    if not picked:
        raise ValueError(f"image encoder {encoder.name!r} has no feature level at strides {PYRAMID_STRIDES}")
    return picked


def pyramid(encoder, images: torch.Tensor) -> list[torch.Tensor]:
    """``images [B, C, H, W]`` → NCHW maps, finest first."""
    return list(encoder.forward_intermediates(images, indices=pyramid_indices(encoder)))


def target_strides(strides: list[int]) -> list[int]:
    """Strides the dense heads work at: the maps' own, or (4, 8, 16, 32) when every map shares one stride (ViT)."""
    if len(set(strides)) == 1 and len(strides) > 1:
        return list(PYRAMID_STRIDES[: len(strides)])
    return list(strides)


def _loader(studies: list[Study], source: EncoderSource, batch_size: int) -> DataLoader:
    ds = StudyDataset(studies, source.preprocess, train=False, use_lateral=False)
    return DataLoader(ds, batch_size=batch_size, collate_fn=lambda items: torch.stack([it["frontal"] for it in items]))


def load_images(studies: list[Study], source: EncoderSource, batch_size: int = 32) -> torch.Tensor:
    """The preprocessed evaluated images ``[N, 1, crop, crop]`` (fine-tuning reads them every step)."""
    return torch.cat(list(_loader(studies, source, batch_size)))


def cache_key(source: EncoderSource, studies: list[Study], kind: str) -> str:
    payload = {"version": CACHE_VERSION, "kind": kind, "encoder": source.identity,
               "preprocess": source.preprocess.as_dict(),
               "images": [str(evaluated_image(s).path) for s in studies]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@torch.no_grad()
def compute_features(source: EncoderSource, studies: list[Study], kind: str, batch_size: int = 32,
                     progress: bool = True, description: str = "features"):
    """``global`` → ``[N, D]`` float32; ``pyramid`` → ``(maps, strides)`` with maps float16 ``[N, C, h, w]``."""
    if kind not in ("global", "pyramid"):
        raise ValueError(f"feature kind must be 'global' or 'pyramid', got {kind!r}")
    enc = source.encoder.eval()
    out: list = []
    for images in track(_loader(studies, source, batch_size), description=description, disable=not progress):
        if kind == "global":
            out.append(enc(images).global_features.float())
        else:
            out.append([m.half() for m in pyramid(enc, images)])
    if kind == "global":
        return torch.cat(out)
    maps = [torch.cat([b[level] for b in out]) for level in range(len(out[0]))]
    size = source.preprocess.crop
    return maps, [size // m.shape[-1] for m in maps]


def cached_features(source: EncoderSource, studies: list[Study], kind: str, cache_dir: str | Path | None = None,
                    batch_size: int = 32, progress: bool = True, description: str = "features"):
    """:func:`compute_features` through the disk cache (``cache_dir``; ``None`` → :func:`default_cache_dir`)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"{cache_key(source, studies, kind)}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)["features"]
        except (OSError, RuntimeError, KeyError) as e:  # a damaged entry is recomputed, not trusted
            print(f"feature cache {path} unreadable ({e}); recomputing")
    feats = compute_features(source, studies, kind, batch_size, progress, description)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"features": feats, "identity": source.identity, "kind": kind, "n": len(studies)}, tmp)
    os.replace(tmp, path)
    return feats
