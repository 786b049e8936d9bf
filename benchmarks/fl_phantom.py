"""F-L against frontal-only recipes on one phantom with one budget, and F-L with each of its three components
removed; print zero-shot AUROC (per finding, and for the findings seen only on the lateral view) and retrieval as
one JSON.

    python benchmarks/fl_phantom.py --out runs/bench_fl                              # CPU-affordable defaults
    python benchmarks/fl_phantom.py --runs fl fl-no-mlm --epochs 3 --train-seeds 0   # a subset / another budget

Runs: ``convirt`` (frontal only), ``mgca`` (frontal only), ``fl``, ``fl-no-mlm``, ``fl-no-fla``, ``fl-no-hsa``
(``objectives.<term>.enabled=false``), each with every training seed, ``--jobs`` at a time (one process and one
thread each). Every run gets the encoders, data and optimiser of ``benchmarks/recipes_phantom.py`` (ImageNet
EfficientNet-Lite0 with its stride-16 map as the local grid; 128 px crops; batch 32; AdamW 3e-4, 3x on the randomly
initialised heads, 10 % warm-up + cosine), except that MiniLM-L6 is frozen, mean-pooled and its features cached;
F-L's lateral encoder is a second, trainable Lite0 and its width 128 (decoders 8 heads, 4 + 2 layers as the paper;
16 aggregated key tokens). What differs is the method.

Evaluation is on a second phantom (``--eval-studies``, phantom seed + 1000) that no run trains or selects on, all of
it: one test split of the training phantom holds too few lateral-only findings to tell recipes apart. Zero-shot
AUROC and retrieval come from ``cxrvlp.evaluation.zeroshot_retrieval.evaluate`` (F-L embeds a study by its fused
frontal + lateral embedding, the others by the frontal view). The lateral-only AUROC scores the studies whose
finding the phantom's ground truth marks visible on the lateral view and not on the frontal one, against the
studies without that finding; ``retrocardiac_opacity`` and small posterior ``pleural_effusion`` are the ones the
phantom hides from the PA view by construction. For F-L runs it is also read from the frontal embedding alone
(``*_frontal_view``): the lateral view's share of the score.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from cxrvlp.data.adapters import get_adapter, load_studies
from cxrvlp.evaluation import metrics
from cxrvlp.evaluation.zeroshot_retrieval import embed_studies, zero_shot_label_scores
from cxrvlp.methods.dual_encoder import DualEncoder
from cxrvlp.methods.loading import load_model
from cxrvlp.recipe import load_recipe
from recipes_phantom import (
    SHARED,
    _finite,
    common_arguments,
    ensure_phantom,
    pretrain_and_evaluate,
    side_by_side,
    summarise,
)

RUNS = {"convirt": ("convirt", []), "mgca": ("mgca", []), "fl": ("fl", []),
        "fl-no-mlm": ("fl", ["objectives.mlm.enabled=false"]),
        "fl-no-fla": ("fl", ["objectives.fla.enabled=false"]),
        "fl-no-hsa": ("fl", ["objectives.hsa.enabled=false"])}
# a frozen MiniLM-L6 is read the way it was trained, by its mean token (MGCA's and F-L's recipes take BERT's [CLS],
# which in a frozen MiniLM is no sentence embedding: with it, those two would lose on the text side alone)
FROZEN_TEXT = ["text_encoder.trainable_layers=0", "text_encoder.cache_frozen=8192", "text_encoder.pooling=mean"]
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


def lateral_only_auroc(checkpoint: Path, data_root: Path, splits: tuple[str, ...], progress: bool,
                       frontal_view: bool = False) -> dict:
    """Zero-shot AUROC of lateral-only positives against negatives on ``splits``; ``frontal_view`` embeds an F-L
    study by its frontal view alone (what the model makes of the PA image without the lateral)."""
    model = load_model(checkpoint)
    if frontal_view:
        model.embed_study = partial(DualEncoder.embed_study, model)
    studies, _ = load_studies("phantom", data_root, splits)
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


def run_one(name: str, overrides: list[str], run_dir: Path, eval_root: Path, eval_splits: tuple[str, ...],
            pool_seed: int, progress: bool) -> dict:
    """Pre-train and evaluate one run (in its own process); ``pool_seed`` draws the retrieval pools."""
    recipe, ablation = RUNS[name]
    cfg = load_recipe(recipe, [*overrides, *(FL if recipe == "fl" else []), *ablation])
    ckpt, results, seconds = pretrain_and_evaluate(name, cfg, run_dir, pool_seed, progress, eval_root, eval_splits)
    t0 = time.perf_counter()
    hidden = lateral_only_auroc(ckpt, eval_root, eval_splits, progress)
    row = {**summarise(results), "lateral_only_auroc": hidden, "objectives": sorted(cfg.objectives)}
    if recipe == "fl":
        row["lateral_only_auroc_frontal_view"] = lateral_only_auroc(ckpt, eval_root, eval_splits, progress, True)
    seconds["evaluate_s"] = round(seconds["evaluate_s"] + time.perf_counter() - t0, 1)
    print(f"[{name}] mean zero-shot AUROC {row['zero_shot_mean_auroc']}, lateral-only "
          f"{ {k: v['auroc'] for k, v in hidden.items() if k in LATERAL_ONLY} }", file=sys.stderr, flush=True)
    return {**row, **seconds}


def _lateral_auroc(run: dict, view: str, finding: str) -> float | None:
    """A run's lateral-only AUROC for ``finding``, from the fused (``view`` "") or the frontal ("_frontal_view")
    embedding; None where the run has no such reading."""
    return run.get(f"lateral_only_auroc{view}", {}).get(finding, {}).get("auroc")


def _cell(values: list, each_seed: bool = True) -> str:
    """Mean of the seeds, and (``each_seed``) each seed in brackets when there are several."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = f"{np.mean(values):.3f}"
    return mean if len(values) == 1 or not each_seed else f"{mean} ({' / '.join(f'{v:.3f}' for v in values)})"


def to_markdown(report: dict) -> str:
    """The two tables of ``docs/fl.md``: per run (zero-shot, retrieval in pools of 100, lateral-only findings) and
    per finding (zero-shot AUROC, mean over seeds)."""
    runs = report["runs"]
    pool = "pool100"

    def seeds(name, get):
        return [get(r) for r in runs[name].values()]

    def lateral(view, finding):
        return lambda r: _lateral_auroc(r, view, finding)

    first = next(iter(next(iter(runs.values())).values()))
    counts = {f: first["lateral_only_auroc"].get(f, {}) for f in LATERAL_ONLY}
    head = ["run", "zero-shot AUROC (mean of 10)", f"image→report R@1 / R@10 ({pool[4:]})",
            *(f"lateral-only {f.replace('_', ' ')} ({c.get('positives')} vs {c.get('negatives')})"
              for f, c in counts.items()), *(f"… {f.replace('_', ' ')} from the frontal view" for f in LATERAL_ONLY)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name in runs:
        i2r = [r["retrieval"].get(f"image_to_report@{pool}", {}) for r in runs[name].values()]
        cells = [name, _cell(seeds(name, lambda r: r["zero_shot_mean_auroc"])),
                 f"{_cell([x.get('1') for x in i2r], False)} / {_cell([x.get('10') for x in i2r], False)}",
                 *(_cell(seeds(name, lateral("", f))) for f in LATERAL_ONLY),
                 *(_cell(seeds(name, lateral("_frontal_view", f))) for f in LATERAL_ONLY)]
        lines.append("| " + " | ".join(cells) + " |")
    findings = list(first["zero_shot_auroc"])
    lines += ["", "| finding | " + " | ".join(runs) + " |", "| --- |" + " --- |" * len(runs)]
    for f in findings:
        cells = [_cell(seeds(name, lambda r: r["zero_shot_auroc"].get(f)), False) for name in runs]
        lines.append(f"| {f.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, "runs/bench_fl", studies=1500, epochs=6)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    p.add_argument("--image-size", type=int, default=144, help="phantom image height in pixels")
    p.add_argument("--eval-studies", type=int, default=1500,
                   help="studies of a second phantom (seed + 1000), all of them held out for evaluation; 0 evaluates "
                        "the training phantom's test split instead")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once, one process and one thread each")
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1],
                   help="training seeds (initialisation, order, augmentation, masking) of every run; the table "
                        "gives their mean, the runs each one")
    args = p.parse_args(argv)

    out = Path(args.out)
    data = out / "phantom"
    phantom_s = ensure_phantom(data, args.studies, args.seed, args.workers, args.progress, args.image_size)
    if args.eval_studies:
        eval_root, eval_splits = out / "phantom_eval", ("train", "validate", "test")
        phantom_s += ensure_phantom(eval_root, args.eval_studies, args.seed + 1000, args.workers, args.progress,
                                    args.image_size)
    else:
        eval_root, eval_splits = data, ("test",)

    shared = [*SHARED, *FROZEN_TEXT, *ONE_THREAD, f"data.root={data}", f"trainer.max_epochs={args.epochs}"]
    jobs = {}
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for name in sorted(args.runs, key=lambda n: RUNS[n][0] != "fl"):  # the longest first
            for seed in args.train_seeds:
                overrides = [*shared, f"trainer.seed={seed}", *args.overrides]
                jobs[name, seed] = pool.submit(run_one, name, overrides, out / name / f"seed{seed}", eval_root,
                                               eval_splits, args.seed, args.progress)
    per_run = {name: {f"seed{seed}": jobs[name, seed].result() for seed in args.train_seeds} for name in args.runs}

    table = {}
    for name, seeds in per_run.items():
        rows = side_by_side(seeds)
        for seed, run in seeds.items():
            for view in ("", "_frontal_view"):
                for finding in LATERAL_ONLY:
                    rows[seed][f"lateral_only_{finding}{view}"] = _lateral_auroc(run, view, finding)
        columns = next(iter(rows.values()))
        values = {k: [r[k] for r in rows.values() if r.get(k) is not None] for k in columns}
        table[name] = {k: _finite(np.mean(v)) if v else None for k, v in values.items()}
    report = {
        "benchmark": "fl_phantom",
        "protocol": {"studies": args.studies, "image_size": args.image_size, "epochs": args.epochs,
                     "phantom_seed": args.seed, "train_seeds": args.train_seeds,
                     "shared_overrides": [*SHARED, *FROZEN_TEXT, *ONE_THREAD], "fl_overrides": FL,
                     "runs": {k: RUNS[k] for k in args.runs}, "extra_overrides": args.overrides,
                     "evaluation": {"data_root": str(eval_root), "phantom_seed": args.seed + 1000 if args.eval_studies
                                    else args.seed, "studies": args.eval_studies or None, "splits": list(eval_splits),
                                    "retrieval": "recall@k in pools of all and of 100"}},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
                    "jobs": args.jobs, "threads_per_job": 1, "cuda": torch.cuda.is_available()},
        "phantom_s": round(phantom_s, 1),
        "table": table,
        "runs": per_run,
    }
    (out / "fl_phantom.json").write_text(json.dumps(report, indent=2))
    (out / "fl_phantom.md").write_text(to_markdown(report))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
