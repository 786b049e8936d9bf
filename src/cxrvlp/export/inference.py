"""A loaded model over a folder of images: every image an adapter finds, embedded in batches (``cxrvlp embed``,
``cxrvlp zeroshot``). An image that cannot be decoded is counted and left out, never a crash halfway."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cxrvlp.data.skips import SkipLog

ALL_SPLITS = ("train", "validate", "test")


@dataclass
class ImageItem:
    image_id: str
    path: Path
    study_id: str
    view: str
    labels: dict[str, float] = field(default_factory=dict)


def image_items(adapter: str, root: str | Path) -> tuple[list[ImageItem], SkipLog, tuple[str, ...]]:
    """Every image (frontal and lateral) of every study ``adapter`` reads under ``root``, all splits; with the
    skip log and the adapter's label names."""
    from cxrvlp.data.adapters import get_adapter, load_studies

    studies, skips = load_studies(adapter, str(root), ALL_SPLITS)
    items = []
    for study in studies:
        for record in [*study.frontal, *study.lateral]:
            image_id = record.image_id or Path(record.path).stem
            items.append(ImageItem(image_id, Path(record.path), study.study_id, record.view, dict(study.labels)))
    return items, skips, tuple(get_adapter(adapter).labels_for(str(root)))


@dataclass
class Embedded:
    items: list[ImageItem]  # the images embedded, in order
    embeddings: torch.Tensor  # [N, D] joint-space image embeddings, L2-normalised
    features: torch.Tensor  # [N, G] the image encoder's global features (before the projection)
    failed: SkipLog  # images that could not be read


@torch.no_grad()
def embed_items(model, preprocess, items: list[ImageItem], batch_size: int = 32, progress: bool = False) -> Embedded:
    from rich.progress import Progress

    kept, embs, feats = [], [], []
    failed = SkipLog()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("embedding", total=len(items))
        for start in range(0, len(items), batch_size):
            chunk, tensors = [], []
            for item in items[start : start + batch_size]:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # constant images: counted below as read, kept black
                        tensors.append(preprocess(item.path))
                    chunk.append(item)
                except (OSError, ValueError) as e:
                    failed.add("unreadable image", f"{item.path} ({e})")
            if tensors:
                x = torch.stack(tensors)
                g = model.image_encoder(x).global_features
                embs.append(torch.nn.functional.normalize(model.image_proj(g), dim=-1))
                feats.append(g)
                kept += chunk
            bar.advance(task, len(items[start : start + batch_size]))
    if not kept:
        raise ValueError(f"no image could be read ({failed.summary()})")
    return Embedded(kept, torch.cat(embs), torch.cat(feats), failed)


def save_embeddings(path: str | Path, emb: Embedded, model_source: str) -> Path:
    """``.npz`` (numpy: ``image_ids``, ``paths``, ``study_ids``, ``views`` string arrays, ``embeddings``,
    ``features``) or ``.safetensors`` (the two tensors; ids, paths, study ids and views as JSON lists in the
    header metadata). Rows are in the same order everywhere."""
    import json

    path = Path(path)
    meta = {"image_ids": [i.image_id for i in emb.items], "paths": [str(i.path) for i in emb.items],
            "study_ids": [i.study_id for i in emb.items], "views": [i.view for i in emb.items]}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        np.savez(path, embeddings=emb.embeddings.numpy(), features=emb.features.numpy(), model=np.array(model_source),
                 **{k: np.array(v) for k, v in meta.items()})
    elif path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({"embeddings": emb.embeddings.contiguous(), "features": emb.features.contiguous()}, str(path),
                  metadata={"model": model_source, **{k: json.dumps(v) for k, v in meta.items()}})
    else:
        raise ValueError(f"{path}: the output must end in .npz or .safetensors")
    return path
