"""``cxrvlp zeroshot``: scores of every image of a folder for labels given as prompt sentences."""
from __future__ import annotations

import argparse

from cxrvlp.cli.embed import folder_arguments


def register(sub) -> None:
    p = sub.add_parser("zeroshot", help="zero-shot scores of every image of a folder for your prompts (CSV)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Score every image under DIR for each label of --prompts, a YAML file\n"
                       "  pleural_effusion:\n"
                       "    positive: [\"Pleural effusion.\", \"Small left pleural effusion.\"]\n"
                       "    negative: [\"No pleural effusion.\"]\n"
                       "The score of an image for a label is s = mean cosine to the positive sentences minus mean "
                       "cosine to the negative ones; with the model's logit scale k (1 / the temperature it was "
                       "trained with) the CSV holds p = sigmoid(k s), the two-way softmax over positive and negative "
                       "(a model without one: s itself). One row per image, one column per label. When DIR's labels "
                       "(labels.csv) include a prompt's label, its AUROC is printed. Not a diagnosis.\n"
                       "  cxrvlp zeroshot my_images/ --model models/convirt --prompts prompts.yaml --out scores.csv")
    folder_arguments(p)
    p.add_argument("--prompts", required=True, help="YAML: {label: {positive: [...], negative: [...]}}")
    p.add_argument("--out", default="zeroshot_scores.csv", help="CSV to write (default: zeroshot_scores.csv)")
    p.set_defaults(func=run)


def run(args) -> int:
    import csv
    import math
    from pathlib import Path

    import numpy as np
    import torch

    from cxrvlp import load
    from cxrvlp.evaluation.metrics import auroc, zero_shot_scores
    from cxrvlp.evaluation.prompts import read_prompts
    from cxrvlp.export.inference import embed_items, image_items

    prompts = read_prompts(args.prompts)
    items, skips, _ = image_items(args.adapter, args.dir)
    if not items:
        raise ValueError(f"{args.dir}: no images found by the {args.adapter!r} adapter ({skips.summary()})")
    model, preprocess, tokenizer = load(args.model)
    emb = embed_items(model, preprocess, items, args.batch_size, progress=not args.no_progress)
    scale = model.logit_scale
    columns = {}
    with torch.no_grad():
        for label, (pos, neg) in prompts.items():
            p, n = (model.encode_text(tokenizer(list(s)), normalize=True) for s in (pos, neg))
            s = zero_shot_scores(emb.embeddings, p, n)
            columns[label] = (torch.sigmoid(scale * s) if scale is not None else s).numpy()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "path", "study_id", "view", *columns])
        for i, item in enumerate(emb.items):
            w.writerow([item.image_id, str(item.path), item.study_id, item.view,
                        *(f"{columns[label][i]:.6f}" for label in columns)])
    what = f"p = sigmoid({scale:.4g} × score)" if scale is not None else "score (no logit scale in this model)"
    print(f"{len(emb.items)} images × {len(columns)} labels → {out} ({what})")
    for label, values in columns.items():
        y = np.array([item.labels.get(label, math.nan) for item in emb.items], dtype=float)
        if np.isfinite(y).any():
            print(f"  {label}: AUROC {auroc(values, y):.3f} against DIR's labels ({int((y == 1).sum())} positive, "
                  f"{int((y == 0).sum())} negative)")
    for what, log in (("skipped while listing", skips), ("could not be read", emb.failed)):
        if log.counts:
            print(f"{log.total} {what}: {log.summary()}")
    return 0
