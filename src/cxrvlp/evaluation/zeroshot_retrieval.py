"""Evaluate a checkpoint: zero-shot classification from prompts and image↔report retrieval on held-out studies."""
from __future__ import annotations

import math
import platform
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torch.utils.data import DataLoader

from cxrvlp import __version__
from cxrvlp.data.adapters import get_adapter, load_studies
from cxrvlp.data.dataset import Collate, StudyDataset
from cxrvlp.data.transforms import Preprocess
from cxrvlp.evaluation import metrics
from cxrvlp.evaluation.plots import retrieval_figure
from cxrvlp.evaluation.prompts import PROMPTS
from cxrvlp.evaluation.report import write_results
from cxrvlp.evaluation.results import text_task_summary
from cxrvlp.methods.loading import load_model
from cxrvlp.text.tokenize import Tokenize


@torch.no_grad()
def embed_split(model, loader: DataLoader, progress: bool = True) -> dict:
    images, texts, labels = [], [], []
    for batch in track(loader, description="embedding", disable=not progress):
        images.append(model.embed_study(batch))
        texts.append(model.embed_texts(batch["input_ids"], batch["attention_mask"]))
        labels.append(batch["labels"])
    return {"image": torch.cat(images), "text": torch.cat(texts), "labels": torch.cat(labels).numpy()}


@torch.no_grad()
def embed_prompts(model, tokenize: Tokenize, prompts: list[str], max_length: int) -> torch.Tensor:
    tok = tokenize(prompts, max_length)
    return model.embed_texts(tok["input_ids"], tok["attention_mask"])


def embed_studies(model, studies, label_names, batch_size: int = 64,
                  progress: bool = True) -> tuple[dict, Preprocess]:
    """Embed held-out studies as the model was trained to see them (no augmentation; the lateral views too when
    the model's ``embed_study`` reads them): ``({"image", "text", "labels"}, preprocessing)``."""
    cfg, dc = model.cfg, model.image_encoder.data_config
    pre = Preprocess(resize=cfg.data.resize, crop=cfg.data.crop, mean=float(dc["mean"][0]), std=float(dc["std"][0]),
                     augment=False)
    ds = StudyDataset(studies, pre, train=False, label_names=label_names, use_lateral=model.EMBEDS_LATERAL,
                      report_sections=tuple(cfg.data.report_sections))
    loader = DataLoader(ds, batch_size=batch_size,
                        collate_fn=Collate(Tokenize(model.text_encoder.tokenizer), model.text_encoder.max_length))
    return embed_split(model, loader, progress), pre


def zero_shot_label_scores(model, image_emb: torch.Tensor, name: str) -> np.ndarray:
    """Zero-shot score of each image for finding ``name`` (:data:`PROMPTS`)."""
    tokenize = Tokenize(model.text_encoder.tokenizer)
    pos, neg = PROMPTS[name]
    return metrics.zero_shot_scores(image_emb, embed_prompts(model, tokenize, list(pos), 64),
                                    embed_prompts(model, tokenize, list(neg), 64)).numpy()


def evaluate(checkpoint: str | Path, out_dir: str | Path, data_root: str | None = None, adapter: str | None = None,
             split: str | tuple[str, ...] = "test", batch_size: int = 64, pool_sizes: tuple[int, ...] = (0,),
             seed: int = 0, progress: bool = True, tasks: tuple[str, ...] = ("zero_shot", "retrieval")) -> dict:
    """``tasks``: ``zero_shot`` (labels with a prompt set in :data:`PROMPTS`) and/or ``retrieval``; ``split``: one
    split or several pooled (a held-out phantom of another seed is evaluated whole)."""
    model = load_model(checkpoint)
    cfg = model.cfg
    adapter = adapter or cfg.data.adapter
    data_root = data_root or cfg.data.root
    splits = (split,) if isinstance(split, str) else tuple(split)
    studies, skips = load_studies(adapter, data_root, splits)
    if not studies:
        raise ValueError(f"{data_root}: no {'/'.join(splits)!r} studies to evaluate on ({skips.summary()})")
    label_names = get_adapter(adapter).labels_for(data_root)
    emb, pre = embed_studies(model, studies, label_names, batch_size, progress)

    per_label, curves = {}, {}
    for j, name in enumerate(label_names if "zero_shot" in tasks else ()):
        if name not in PROMPTS:
            continue
        scores = zero_shot_label_scores(model, emb["image"], name)
        y = emb["labels"][:, j]
        auc = metrics.auroc(scores, y)
        per_label[name] = {"auroc": auc, "positives": int((y == 1).sum()), "negatives": int((y == 0).sum())}
        if not math.isnan(auc):
            curves[name] = metrics.roc_points(scores, y)
    valid = [v["auroc"] for v in per_label.values() if not math.isnan(v["auroc"])]

    retrieval = {}
    for pool in pool_sizes if "retrieval" in tasks else ():
        if pool > len(studies):
            continue
        for name, (q, g) in {"image_to_report": (emb["image"], emb["text"]),
                             "report_to_image": (emb["text"], emb["image"])}.items():
            rec = metrics.recall_at_k(q, g, ks=(1, 5, 10), pool_size=pool, seed=seed)
            entry = {"pool_size": pool or len(studies), "recall": {str(k): v for k, v in rec.items()}}
            if name == "image_to_report":  # a hit: any report with the query's finding set (same pools)
                la = metrics.label_aware_retrieval(q, g, emb["labels"], ks=(1, 5, 10), pool_size=pool, seed=seed)
                entry["label_aware"] = {"precision": {str(k): v for k, v in la["precision"].items()},
                                        "map": la["map"], "chance": la["chance"]}
            retrieval[f"{name}@pool{pool or len(studies)}"] = entry

    results = {
        "protocol": {
            "task": "zero-shot classification + image-report retrieval",
            "checkpoint": model.checkpoint_path, "checkpoint_sha256": model.checkpoint_sha256,
            "recipe": cfg.name, "adapter": adapter, "data_root": str(data_root), "split": "+".join(splits),
            "n_studies": len(studies), "skipped": skips.summary(), "study_ids_sha256": _ids_hash(studies),
            "preprocess": pre.as_dict(), "report_sections": list(cfg.data.report_sections),
            "retrieval_seed": seed, "prompts": {k: PROMPTS[k] for k in per_label},
            "label_aware_retrieval": "image→report; a hit is any report whose finding set (labels == 1 of "
                                     f"{list(label_names)}; absent = not positive) equals the query's",
            "cxrvlp_version": __version__, "torch": torch.__version__, "python": platform.python_version(),
        },
        "zero_shot": {"per_label": per_label, "mean_auroc": float(np.mean(valid)) if valid else math.nan}
        if "zero_shot" in tasks else None,
        "retrieval": retrieval,
    }
    results["summary"] = text_task_summary(adapter, results)
    if retrieval:
        retrieval_figure(studies, pre, emb["image"], emb["text"], cfg.data.report_sections,
                         Path(out_dir) / "retrieval_examples.png")
    results["files"] = {k: str(v) for k, v in write_results(results, Path(out_dir), curves).items()}
    return results


def _ids_hash(studies) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(s.study_id for s in studies)).encode()).hexdigest()[:16]
