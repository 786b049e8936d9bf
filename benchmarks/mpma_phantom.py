"""MPMA against ConVIRT and MGCA on one phantom with one budget, and MPMA without each of its parts; print
zero-shot AUROC, retrieval, the linear probe at 1 % of the labels, phantom VQA accuracy and MPMA's claim measured
directly, as one JSON (and a Markdown table).

    python benchmarks/mpma_phantom.py --out runs/bench_mpma                                # CPU-affordable defaults
    python benchmarks/mpma_phantom.py --runs mpma mpma-no-mim --epochs 3 --train-seeds 0    # a subset / budget

Runs: ``convirt``, ``mgca``, ``mpma``, ``mpma-no-mim``, ``mpma-no-mlm`` (``objectives.<term>.enabled=false``),
``mpma-no-macmf`` (no memory, the text reads no image: ``memory_slots=0``, ``text_reads_image=false``) and
``mpma-no-gla`` (no global / local alignment term), each with every training seed. Encoders, data and optimiser are
``benchmarks/recipes_phantom.py``'s (ImageNet EfficientNet-Lite0, stride-16 local grid: 8 x 8 patches of 16 px at
128 px, MiniLM-L6 frozen, mean-pooled and cached): the CNN sees hidden patches blanked (SimMIM-style), MPMA's fusion
is 128-d with 8 memory slots.

On a second, held-out phantom (``--eval-studies``, seed + 1000):
- zero-shot AUROC (mean of 10) and image→report R@10 in pools of 100 (``cxrvlp evaluate``);
- the linear probe at 1 % of the training labels (``cxrvlp evaluate linear --fractions 1``, mean AUROC);
- phantom VQA accuracy (``cxrvlp evaluate vqa``: presence, side, zone, size, devices);
- the claim (``cxrvlp.evaluation.reconstruction``): accuracy of the masked pathology-term words with the study's own
  image against another study's (``words_own`` / ``words_other``), and the pixel error of hidden patches inside the
  true finding masks with and without the report (``mim_with_report`` / ``mim_without_report``).
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

from cxrvlp.cli import main as cli
from cxrvlp.data.adapters import load_studies
from cxrvlp.evaluation.reconstruction import finding_patch_error, finding_word_accuracy
from cxrvlp.methods.loading import load_model
from cxrvlp.recipe import load_recipe
from fl_phantom import FROZEN_TEXT, ONE_THREAD
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

RUNS = {"convirt": ("convirt", []), "mgca": ("mgca", []), "mpma": ("mpma", []),
        "mpma-no-mim": ("mpma", ["objectives.mim.enabled=false"]),
        "mpma-no-mlm": ("mpma", ["objectives.mlm.enabled=false"]),
        "mpma-no-macmf": ("mpma", ["model_options.memory_slots=0", "model_options.text_reads_image=false"]),
        "mpma-no-gla": ("mpma", ["objectives.itc.enabled=false", "objectives.local.enabled=false"])}
MPMA = ["model_options.fusion_dim=128", "model_options.memory_slots=8", "model_options.heads=4",
        "model_options.decoder_width=64"]
CLAIM_STUDIES = 400  # of the held-out phantom, for the reconstruction measurements


def _cli(*args: str) -> dict:
    out = args[args.index("--out") + 1]
    if cli(list(args)) != 0:
        raise RuntimeError(f"cxrvlp {' '.join(args)} failed")
    return json.loads((Path(out) / "metrics.json").read_text())


def run_one(name: str, overrides: list[str], run_dir: Path, eval_root: Path, eval_splits: tuple[str, ...],
            pool_seed: int, progress: bool) -> dict:
    recipe, ablation = RUNS[name]
    cfg = load_recipe(recipe, [*overrides, *(MPMA if recipe == "mpma" else []), *ablation])
    ckpt, results, seconds = pretrain_and_evaluate(name, cfg, run_dir, pool_seed, progress, eval_root, eval_splits)
    row = {**summarise(results), "objectives": sorted(cfg.objectives)}
    t0 = time.perf_counter()
    quiet = [] if progress else ["--no-progress"]
    linear = _cli("evaluate", "linear", str(ckpt), "--out", str(run_dir / "linear"), "--adapter", "phantom",
                  "--data-root", str(eval_root), "--fractions", "1", "--seeds", "0,1,2", *quiet)
    row["linear_1pct"] = [r for r in linear["summary"] if r["fraction"] == "1%"]
    vqa = _cli("evaluate", "vqa", str(ckpt), "--out", str(run_dir / "vqa"), "--data-root", str(eval_root), *quiet)
    row["vqa"] = vqa["vqa"]
    model = load_model(ckpt)
    studies, _ = load_studies("phantom", eval_root, eval_splits)
    studies = studies[:: max(1, len(studies) // CLAIM_STUDIES)][:CLAIM_STUDIES]
    if getattr(model, "mlm_head", None) is not None:
        row["finding_words"] = finding_word_accuracy(model, studies)
    if getattr(model, "pixel_decoder", None) is not None:
        row["finding_patches"] = finding_patch_error(model, studies)
    seconds["downstream_s"] = round(time.perf_counter() - t0, 1)
    print(f"[{name}] zero-shot {row['zero_shot_mean_auroc']}, VQA {row['vqa']['accuracy']:.3f}, "
          f"words {row.get('finding_words')}, patches {row.get('finding_patches')}", file=sys.stderr, flush=True)
    return {**row, **seconds}


def _metrics(run: dict) -> dict:
    auroc = [r["mean"] for r in run["linear_1pct"] if r["metric"] == "AUROC"]  # the mean over the labels
    words, patches = run.get("finding_words") or {}, run.get("finding_patches") or {}
    i2r = run["retrieval"].get("image_to_report@pool100", {})
    return {"zero_shot": run["zero_shot_mean_auroc"], "R@10": i2r.get("10"),
            "linear_1%": _finite(auroc[0]) if auroc else None, "vqa": _finite(run["vqa"]["accuracy"]),
            "words_own": _finite(words.get("own_image")), "words_other": _finite(words.get("other_image")),
            "mim_with_report": _finite((patches.get("with_report") or {}).get("in_findings")),
            "mim_without_report": _finite((patches.get("without_report") or {}).get("in_findings"))}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, "runs/bench_mpma", studies=1500, epochs=5)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    p.add_argument("--image-size", type=int, default=144, help="phantom image height in pixels")
    p.add_argument("--eval-studies", type=int, default=1000, help="studies of the held-out phantom (seed + 1000)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once, one process and one thread each")
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    args = p.parse_args(argv)

    out = Path(args.out)
    per_run, phantom_s, eval_root, eval_splits = held_out_grid(args, run_one, [*FROZEN_TEXT, *ONE_THREAD], None)
    summary = seed_table(per_run, _metrics)
    report = {
        "benchmark": "mpma_phantom",
        "protocol": {"studies": args.studies, "image_size": args.image_size, "epochs": args.epochs,
                     "phantom_seed": args.seed, "train_seeds": args.train_seeds,
                     "shared_overrides": [*SHARED, *FROZEN_TEXT, *ONE_THREAD], "mpma_overrides": MPMA,
                     "runs": {k: RUNS[k] for k in args.runs}, "extra_overrides": args.overrides,
                     "evaluation": {"data_root": str(eval_root), "phantom_seed": args.seed + 1000,
                                    "studies": args.eval_studies, "splits": list(eval_splits),
                                    "claim_studies": CLAIM_STUDIES, "linear": "1 % of the labels, seeds 0-2",
                                    "vqa": "phantom questions, answer head on frozen pair features"}},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
                    "jobs": args.jobs, "threads_per_job": 1, "cuda": torch.cuda.is_available()},
        "phantom_s": round(phantom_s, 1),
        "table": summary,
        "runs": per_run,
    }
    (out / "mpma_phantom.json").write_text(json.dumps(report, indent=2))
    (out / "mpma_phantom.md").write_text(seed_table_markdown(summary))
    print(json.dumps({k: report[k] for k in ("benchmark", "protocol", "table")}, indent=2))
    return report


if __name__ == "__main__":
    main()
