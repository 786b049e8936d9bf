"""F-L against frontal-only recipes on one phantom with one budget, and F-L with each of its three components
removed; print zero-shot AUROC (per finding, and for the findings seen only on the lateral view) and retrieval as
one JSON.

    python benchmarks/fl_phantom.py --out runs/bench_fl                              # CPU-affordable defaults
    python benchmarks/fl_phantom.py --runs fl fl-no-mlm --epochs 3                   # a subset / another budget

Runs: ``convirt`` (frontal only), ``mgca`` (frontal only), ``fl``, ``fl-no-mlm``, ``fl-no-fla``, ``fl-no-hsa``
(``objectives.<term>.enabled=false``). Every run gets the encoders, data and optimiser of
``benchmarks/recipes_phantom.py`` (ImageNet EfficientNet-Lite0 with its stride-16 map as the local grid; 128 px
crops; batch 32; AdamW 3e-4, 3x on the randomly initialised heads, 10 % warm-up + cosine), except that MiniLM-L6 is
frozen and its features cached (a CPU budget); F-L's lateral encoder is a second, trainable Lite0 and its width
128 (decoders 8 heads, 4 + 2 layers as the paper; 16 aggregated key tokens). What differs is the method.

Zero-shot AUROC and retrieval come from ``cxrvlp.evaluation.zeroshot_retrieval.evaluate`` on the test split (F-L
embeds a study by its fused frontal + lateral embedding, the others by the frontal view). The lateral-only AUROC
scores, on validate + test (neither is used for any choice during training), the studies whose finding the
phantom's ground truth marks visible on the lateral view and not on the frontal one, against the studies without
that finding; ``retrocardiac_opacity`` and small posterior ``pleural_effusion`` are the ones the phantom hides
from the PA view by construction.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cxrvlp.data.adapters import get_adapter, load_studies
from cxrvlp.evaluation import metrics
from cxrvlp.evaluation.zeroshot_retrieval import embed_studies, zero_shot_label_scores
from cxrvlp.training.checkpoint import load_model
from cxrvlp.training.config import load_recipe
from recipes_phantom import (SHARED, _finite, common_arguments, ensure_phantom, pretrain_and_evaluate, side_by_side,
                             summarise)

RUNS = {"convirt": ("convirt", []), "mgca": ("mgca", []), "fl": ("fl", []),
        "fl-no-mlm": ("fl", ["objectives.mlm.enabled=false"]),
        "fl-no-fla": ("fl", ["objectives.fla.enabled=false"]),
        "fl-no-hsa": ("fl", ["objectives.hsa.enabled=false"])}
FROZEN_TEXT = ["text_encoder.trainable_layers=0", "text_encoder.cache_frozen=8192"]
# one thread per process: on 2 cores shared with other jobs, 2 threads were several times slower per step
ONE_THREAD = ["trainer.torch_threads=1"]
FL_WIDTH = 128  # the paper's 512 would spend most of a CPU step in the 30522-word MLM head
FL = ["data.use_lateral=true",
      "model_options.lateral_encoder={name: efficientnet_lite0, pretrained: imagenet-offline, local_index: 3}",
      "model_options.freeze_lateral=false", "model_options.aggregated_tokens=16",
      f"projection.dim={FL_WIDTH}", f"objectives.hsa.dim={FL_WIDTH}",
      "optim.lr_mult={_proj: 3.0, lateral_adapter: 3.0, fusion: 3.0, aggregation: 3.0, mlm_decoder: 3.0, "
      "mlm_head: 3.0, fla_decoder: 3.0}"]
LATERAL_ONLY = ("retrocardiac_opacity", "pleural_effusion")


def lateral_only(study) -> set[str]:
    """Findings of a phantom study visible on its lateral view and on none of its frontal views."""
    gt = study.meta["ground_truth"]
    kinds = {"frontal": {r.image_id for r in study.frontal}, "lateral": {r.image_id for r in study.lateral}}
    seen = set()
    for f in gt["findings"]:
        visible = {did for did, v in f["views"].items() if v["visible"]}
        if visible & kinds["lateral"] and not visible & kinds["frontal"]:
            seen.add(f["name"])
    return seen


def lateral_only_auroc(checkpoint: Path, data_root: Path, progress: bool) -> dict:
    """Zero-shot AUROC of lateral-only positives against negatives, on validate + test."""
    model = load_model(checkpoint)
    studies, _ = load_studies("phantom", data_root, ("validate", "test"))
    names = get_adapter("phantom").labels_for(data_root)
    emb, _ = embed_studies(model, studies, names, progress=progress)
    hidden = [lateral_only(s) for s in studies]
    out = {}
    for name in sorted({n for h in hidden for n in h}):
        y = np.array([1.0 if name in h else (0.0 if s.labels.get(name) == 0 else np.nan)
                      for s, h in zip(studies, hidden)])
        scores = zero_shot_label_scores(model, emb["image"], name)
        out[name] = {"auroc": _finite(metrics.auroc(scores, y)), "positives": int((y == 1).sum()),
                     "negatives": int((y == 0).sum())}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, "runs/bench_fl", studies=1000, epochs=3)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    p.add_argument("--image-size", type=int, default=144, help="phantom image height in pixels")
    args = p.parse_args(argv)

    out = Path(args.out)
    data = out / "phantom"
    phantom_s = ensure_phantom(data, args.studies, args.seed, args.workers, args.progress, args.image_size)

    per_run = {}
    for name in args.runs:
        recipe, ablation = RUNS[name]
        overrides = [*SHARED, *FROZEN_TEXT, *ONE_THREAD, *(FL if recipe == "fl" else []), *ablation,
                     f"data.root={data}", f"trainer.max_epochs={args.epochs}", f"trainer.seed={args.seed}",
                     *args.overrides]
        cfg = load_recipe(recipe, overrides)
        ckpt, results, seconds = pretrain_and_evaluate(name, cfg, out / name, args.seed, args.progress)
        t0 = time.perf_counter()
        hidden = lateral_only_auroc(ckpt, data, args.progress)
        seconds["evaluate_s"] = round(seconds["evaluate_s"] + time.perf_counter() - t0, 1)
        per_run[name] = {**summarise(results), "lateral_only_auroc": hidden, "objectives": sorted(cfg.objectives),
                         **seconds}
        print(f"[{name}] mean zero-shot AUROC {per_run[name]['zero_shot_mean_auroc']}, lateral-only "
              f"{ {k: v['auroc'] for k, v in hidden.items() if k in LATERAL_ONLY} }", file=sys.stderr, flush=True)

    table = side_by_side(per_run)
    for name, row in table.items():
        for finding in LATERAL_ONLY:
            row[f"lateral_only_{finding}"] = per_run[name]["lateral_only_auroc"].get(finding, {}).get("auroc")
    report = {
        "benchmark": "fl_phantom",
        "protocol": {"studies": args.studies, "image_size": args.image_size, "epochs": args.epochs,
                     "seed": args.seed, "shared_overrides": [*SHARED, *FROZEN_TEXT, *ONE_THREAD], "fl_overrides": FL,
                     "runs": {k: RUNS[k] for k in args.runs}, "extra_overrides": args.overrides,
                     "evaluation": "test split for zero-shot AUROC and retrieval (recall@k in pools of all and of "
                                   "100); validate + test for the lateral-only AUROC"},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cuda": torch.cuda.is_available()},
        "phantom_s": round(phantom_s, 1),
        "table": table,
        "runs": per_run,
    }
    (out / "fl_phantom.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
