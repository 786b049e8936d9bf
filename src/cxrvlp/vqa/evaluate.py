"""``cxrvlp evaluate vqa``: closed-set VQA with a small answer head on frozen pair features.

The feature of an (image, question) pair is the model's multi-modal representation where it has one (MPMA's fused
[CLS], :meth:`~cxrvlp.methods.mpma.MPMAModel.embed_fused`), else the concatenation of the L2-normalised image and
question embeddings of the dual encoder. An MLP (one hidden layer of 256, GELU) over the closed answer set of the
training questions is trained on the train split (AdamW, warm-up + cosine, ``epochs``) and scored on the test
split: accuracy overall and per question type, next to the majority answer of each type in the training questions
(what a model that ignores the image gets). A test answer never seen in training counts as wrong (and is counted).
"""
from __future__ import annotations

import json
import platform
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp import __version__
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.transforms import Preprocess, apply, load_gray
from cxrvlp.evaluation import head_training as ht
from cxrvlp.vqa.types import Question

DATASETS = ("phantom", "vqa_rad", "slake")


def load_questions(dataset: str, root: str | Path, skips: SkipLog) -> list[Question]:
    if dataset == "phantom":
        from cxrvlp.data.adapters import load_studies
        from cxrvlp.vqa.phantom_questions import phantom_questions

        studies, study_skips = load_studies("phantom", root, ("train", "validate", "test"))
        for reason, count in study_skips.counts.items():
            skips.counts[reason] += count
        return phantom_questions(studies)
    if dataset == "vqa_rad":
        from cxrvlp.vqa.public import read_vqa_rad

        return read_vqa_rad(root, skips)
    if dataset == "slake":
        from cxrvlp.vqa.public import read_slake

        return read_slake(root, skips)
    raise ValueError(f"unknown VQA data set {dataset!r}; known: {DATASETS}")


@torch.no_grad()
def pair_features(model, images: torch.Tensor, questions: list[str]) -> torch.Tensor:
    """``[B, F]`` features of (image, question) pairs (module docstring)."""
    tok = model.text_encoder.tokenize(list(questions))
    if hasattr(model, "embed_fused"):
        return model.embed_fused({"frontal": images, **tok}).float()
    return torch.cat([model.embed_images(images), model.embed_texts(tok["input_ids"], tok["attention_mask"])], 1)


def _features(model, questions: list[Question], pre: Preprocess, batch_size: int, progress: bool) -> torch.Tensor:
    from rich.progress import track

    cache: dict[Path, torch.Tensor] = {}
    out = []
    starts = range(0, len(questions), batch_size)
    for start in track(starts, description="VQA features", disable=not progress):
        part = questions[start:start + batch_size]
        for q in part:
            if q.image not in cache:
                cache[q.image] = apply(load_gray(q.image), pre, train=False)
        images = torch.stack([cache[q.image] for q in part])
        out.append(pair_features(model, images, [q.question for q in part]))
    return torch.cat(out) if out else torch.zeros(0)


def evaluate_vqa(checkpoint: str | Path, out_dir: str | Path, dataset: str = "phantom", data_root: str | None = None,
                 epochs: int = 30, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, limit: int = 0,
                 progress: bool = True) -> dict:
    from cxrvlp.methods.loading import load_model

    torch.manual_seed(seed)
    model = load_model(checkpoint)
    cfg, dc = model.cfg, model.image_encoder.data_config
    root = data_root or cfg.data.root
    skips = SkipLog()
    questions = load_questions(dataset, root, skips)
    if limit:
        questions = questions[:: max(1, len(questions) // limit)][:limit]
    train = [q for q in questions if q.split == "train"]
    test = [q for q in questions if q.split == "test"]
    if not train or not test:
        raise ValueError(f"{root}: VQA needs train and test questions, found {len(train)} and {len(test)} "
                         f"({skips.summary() or 'nothing skipped'})")
    answers = sorted({q.answer for q in train})
    index = {a: i for i, a in enumerate(answers)}
    pre = Preprocess(resize=cfg.data.resize, crop=cfg.data.crop, mean=float(dc["mean"][0]), std=float(dc["std"][0]),
                     augment=False)
    x_train = _features(model, train, pre, batch_size, progress)
    x_test = _features(model, test, pre, batch_size, progress)
    y_train = torch.tensor([index[q.answer] for q in train])
    head = nn.Sequential(nn.Linear(x_train.shape[1], 256), nn.GELU(), nn.Linear(256, len(answers)))
    steps = ht.training_steps(len(train), batch_size, epochs, min_steps=50, max_steps=5000)
    ht.train(head, ht.FeatureSource(x_train, "global"), len(train),
             lambda h, x, idx: F.cross_entropy(h(x), y_train[idx]), steps, batch_size, lr, seed=seed,
             progress=progress, description="VQA answer head")
    with torch.no_grad():
        predicted = [answers[i] for i in head(x_test).argmax(1).tolist()]
    results = _score(train, test, predicted)
    results["protocol"] = {
        "task": "vqa", "dataset": dataset, "data_root": str(Path(root).resolve()), "checkpoint": str(checkpoint),
        "checkpoint_sha256": model.checkpoint_sha256, "recipe": cfg.name,
        "features": "fused [CLS]" if hasattr(model, "embed_fused") else "[image embedding; question embedding]",
        "head": "MLP 256, GELU", "epochs": epochs, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
        "n_train": len(train), "n_test": len(test), "answers": answers, "preprocess": pre.as_dict(),
        "skipped": skips.summary(), "limit": limit,
        "cxrvlp_version": __version__, "torch": torch.__version__, "python": platform.python_version(),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(vqa_markdown(results))
    return results


def _score(train: list[Question], test: list[Question], predicted: list[str]) -> dict:
    majority = {k: Counter(q.answer for q in train if q.kind == k).most_common(1)[0][0]
                for k in {q.kind for q in train}}
    per_kind = {}
    for kind in sorted({q.kind for q in test}):
        rows = [(q, p) for q, p in zip(test, predicted) if q.kind == kind]
        per_kind[kind] = {"n": len(rows), "accuracy": float(np.mean([q.answer == p for q, p in rows])),
                          "majority_baseline": float(np.mean([q.answer == majority.get(kind) for q, _ in rows]))}
    seen = {q.answer for q in train}
    return {"vqa": {"accuracy": float(np.mean([q.answer == p for q, p in zip(test, predicted)])),
                    "majority_baseline": float(np.mean([q.answer == majority.get(q.kind) for q in test])),
                    "per_type": per_kind, "test_answers_unseen_in_training": sum(q.answer not in seen for q in test)}}


def vqa_markdown(results: dict) -> str:
    v = results["vqa"]
    lines = ["| question type | questions | accuracy | majority answer |", "|---|---:|---:|---:|"]
    for kind, r in v["per_type"].items():
        lines.append(f"| {kind} | {r['n']} | {r['accuracy']:.3f} | {r['majority_baseline']:.3f} |")
    lines.append(f"| **all** | {sum(r['n'] for r in v['per_type'].values())} | **{v['accuracy']:.3f}** | "
                 f"{v['majority_baseline']:.3f} |")
    return "\n".join(lines) + "\n"
