"""SISTA against ConVIRT and MGCA on one phantom with one budget, and SISTA without each of its two parts; print
zero-shot AUROC, exact-pair and label-aware retrieval and grounding scores as one JSON (and a Markdown table).

    python benchmarks/sista_phantom.py --out runs/bench_sista                            # CPU-affordable defaults
    python benchmarks/sista_phantom.py --runs sista sista-no-sia --epochs 3 --train-seeds 0   # a subset / budget

Runs: ``convirt``, ``mgca``, ``sista``, ``sista-no-sia`` (``objectives.sia.mode=none``: plain InfoNCE in place of
SIA), ``sista-no-sta`` (``objectives.sta.enabled=false``), each with every training seed; ``gloria``, ``limitr``
and ``fl`` (grounding of the other recipes with local features at the same budget) with the first seed only
(``limitr`` is not in the default list: its all-pairs local loss takes about a minute per step on one CPU thread
at batch 32, three hours for this budget; ``--runs limitr`` adds it where there is time or a GPU).
Every run gets the encoders, data and optimiser of ``benchmarks/recipes_phantom.py`` (ImageNet EfficientNet-Lite0
with its stride-16 map as the local grid, 8 x 8 patches at 128 px; batch 32; AdamW 3e-4, 3x on the heads) with
MiniLM-L6 frozen, mean-pooled and cached, as in ``benchmarks/fl_phantom.py``. SISTA measures report similarity
with that frozen encoder (``similarity_encoder: self`` is then the same as ``frozen`` or ``ema``, without a copy).

What each claim is measured by, on a second, held-out phantom (``--eval-studies``, phantom seed + 1000):
- SIA ("no false negatives"): image→report **label-aware retrieval** (a hit is any report with the query's finding
  set; precision@k and mAP in pools of 100), next to the exact-pair recall@k that SIA may lose by retrieving a twin;
- STA ("sparse grounding"): ``cxrvlp evaluate grounding`` on the phantom's finding masks (pointing game, mask AUROC,
  energy inside the mask) of every finding phrase of every report, from the cosine word-patch maps;
- both: zero-shot AUROC of the ten findings.
The Markdown table gives the mean over seeds with each seed in brackets; a difference counts only where it exceeds
the spread between seeds (``spread`` columns of the JSON: max - min over seeds).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from cxrvlp.evaluation.grounding_eval import evaluate_grounding
from cxrvlp.recipe import load_recipe
from fl_phantom import FL, FROZEN_TEXT, ONE_THREAD
from recipes_phantom import (
    SHARED,
    _finite,
    common_arguments,
    held_out_grid,
    pretrain_and_evaluate,
    seed_table,
    seed_table_markdown,
    summarise,
)

RUNS = {"convirt": ("convirt", []), "mgca": ("mgca", []), "sista": ("sista", []),
        "sista-no-sia": ("sista", ["objectives.sia.mode=none"]),
        "sista-no-sta": ("sista", ["objectives.sta.enabled=false"]),
        "gloria": ("gloria", []), "limitr": ("limitr", []), "fl": ("fl", [])}
ONE_SEED = ("gloria", "limitr", "fl")  # grounding of the other local recipes, at the same budget
TEXT_WIDTH = 384
PER_RECIPE = {"sista": ["model_options.similarity_encoder=self"],
              "gloria": [f"projection.dim={TEXT_WIDTH}"],
              "limitr": [f"projection.dim={TEXT_WIDTH}", "data.use_lateral=true"],
              "fl": FL}
POOL = "pool100"


def run_one(name: str, overrides: list[str], run_dir: Path, eval_root: Path, eval_splits: tuple[str, ...],
            pool_seed: int, progress: bool) -> dict:
    recipe, ablation = RUNS[name]
    cfg = load_recipe(recipe, [*overrides, *PER_RECIPE.get(recipe, []), *ablation])
    ckpt, results, seconds = pretrain_and_evaluate(name, cfg, run_dir, pool_seed, progress, eval_root, eval_splits)
    row = {**summarise(results), "objectives": sorted(cfg.objectives)}
    i2r = results["retrieval"].get(f"image_to_report@{POOL}") or next(
        v for k, v in results["retrieval"].items() if k.startswith("image_to_report@"))  # fewer studies than 100
    row["label_aware"] = i2r.get("label_aware")
    row["exact_recall"] = i2r["recall"]
    if recipe != "convirt":
        t0 = time.perf_counter()
        g = evaluate_grounding(ckpt, run_dir / "grounding", data_root=str(eval_root), split=eval_splits,
                               progress=progress)
        row["grounding"] = {"per_view": g["grounding"]["per_view"], "overall": g["grounding"]["overall"],
                            "per_finding": g["grounding"]["per_finding"], "scored": g["scored"],
                            "skipped": g["skipped"]}
        seconds["grounding_s"] = round(time.perf_counter() - t0, 1)
    print(f"[{name}] zero-shot {row['zero_shot_mean_auroc']}, label-aware mAP {(row['label_aware'] or {}).get('map')}"
          f", grounding {row.get('grounding', {}).get('overall')}", file=sys.stderr, flush=True)
    return {**row, **seconds}


def _metrics(run: dict) -> dict:
    """The numbers a row of the table shows."""
    la, g = run.get("label_aware") or {}, (run.get("grounding") or {}).get("overall") or {}
    out = {"zero_shot": run["zero_shot_mean_auroc"], "exact_R@1": run["exact_recall"].get("1"),
           "exact_R@10": run["exact_recall"].get("10"), "label_P@1": la.get("precision", {}).get("1"),
           "label_P@10": la.get("precision", {}).get("10"), "label_mAP": la.get("map")}
    for key in ("pointing", "auroc", "energy"):
        out[f"grounding_{key}"] = _finite(g.get(key))
    return out


def _chance(per_run: dict) -> dict:
    """Chance levels of the label-aware and grounding scores (the same evaluation data for every run)."""
    for seeds in per_run.values():
        for run in seeds.values():
            g = (run.get("grounding") or {}).get("overall") or {}
            la = run.get("label_aware") or {}
            if g and la:
                return {"label_P@1": la.get("chance"), "label_P@10": la.get("chance"), "label_mAP": la.get("chance"),
                        **{f"grounding_{k}": _finite(g.get(f"chance_{k}")) for k in ("pointing", "auroc", "energy")}}
    return {}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, "runs/bench_sista", studies=1500, epochs=6)
    p.add_argument("--runs", nargs="+", default=[r for r in RUNS if r != "limitr"], choices=RUNS)
    p.add_argument("--image-size", type=int, default=144, help="phantom image height in pixels")
    p.add_argument("--eval-studies", type=int, default=1000, help="studies of the held-out phantom (seed + 1000)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process and one thread each")
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    args = p.parse_args(argv)

    out = Path(args.out)
    seeds = lambda name: args.train_seeds[:1] if name in ONE_SEED else args.train_seeds  # noqa: E731
    per_run, phantom_s, eval_root, eval_splits = held_out_grid(args, run_one, [*FROZEN_TEXT, *ONE_THREAD], seeds)
    summary = seed_table(per_run, _metrics)
    chance = _chance(per_run)
    report = {
        "benchmark": "sista_phantom",
        "protocol": {"studies": args.studies, "image_size": args.image_size, "epochs": args.epochs,
                     "phantom_seed": args.seed, "train_seeds": args.train_seeds, "one_seed_runs": list(ONE_SEED),
                     "shared_overrides": [*SHARED, *FROZEN_TEXT, *ONE_THREAD], "per_recipe": PER_RECIPE,
                     "runs": {k: RUNS[k] for k in args.runs}, "extra_overrides": args.overrides,
                     "evaluation": {"data_root": str(eval_root), "phantom_seed": args.seed + 1000,
                                    "studies": args.eval_studies, "splits": list(eval_splits),
                                    "retrieval": f"image→report in {POOL}: exact-pair recall@k and label-aware "
                                                 "precision@k / mAP", "grounding": "cxrvlp evaluate grounding, "
                                                 "cosine word-patch maps, pointing tolerance 0"}},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
                    "jobs": args.jobs, "threads_per_job": 1, "cuda": torch.cuda.is_available()},
        "phantom_s": round(phantom_s, 1),
        "chance": chance,
        "table": summary,
        "runs": per_run,
    }
    (out / "sista_phantom.json").write_text(json.dumps(report, indent=2))
    (out / "sista_phantom.md").write_text(seed_table_markdown(summary, chance))
    print(json.dumps({k: report[k] for k in ("benchmark", "protocol", "chance", "table")}, indent=2))
    return report


if __name__ == "__main__":
    main()
