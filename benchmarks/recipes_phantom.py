"""Pre-train the baseline recipes on one phantom with the same budget; print zero-shot AUROC and retrieval side by
side as one JSON.

    python benchmarks/recipes_phantom.py --out runs/bench_recipes            # CPU-affordable defaults
    python benchmarks/recipes_phantom.py --recipes gloria mgca --epochs 3    # a subset / another budget

Every recipe gets the same encoders (offline ImageNet EfficientNet-Lite0 with its stride-16 map as the local grid,
MiniLM-L6 with its last 2 layers trainable), data (phantom, 128 px crops, batch 32), optimiser (AdamW, lr 3e-4
with 3x on the heads, 10 % warm-up then cosine) and number of epochs; what differs is the method: heads,
objectives, weights and temperatures from its recipe (GLoRIA and LIMITR project to the text width, 384 for MiniLM,
as the papers project to BERT's 768). LIMITR also sees the lateral views in training; evaluation embeds the frontal
view for every recipe. Results and run folders go under --out (the phantom is reused if it is already there).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cxrvlp.evaluation.zeroshot_retrieval import evaluate
from cxrvlp.phantom import generate
from cxrvlp.recipe import load_recipe
from cxrvlp.training.pretrain import pretrain

RECIPES = ("convirt", "gloria", "mgca", "limitr")
SHARED = [
    "image_encoder.name=efficientnet_lite0", "image_encoder.pretrained=imagenet-offline", "image_encoder.local_index=3",
    "text_encoder.name=minilm", "text_encoder.trainable_layers=2",
    "data.adapter=phantom", "data.resize=144", "data.crop=128", "data.batch_size=32", "data.num_workers=0",
    "text_encoder.max_length=96",
    "optim.lr=3e-4", "optim.weight_decay=1e-4", "optim.warmup_fraction=0.1", "optim.min_lr_ratio=0.0",
    "optim.lr_mult={_proj: 3.0}",
    "trainer.precision=32-true", "trainer.gradient_clip_val=0.0", "trainer.log_every_n_steps=10",
]
TEXT_WIDTH = 384  # MiniLM-L6
PER_RECIPE = {"gloria": [f"projection.dim={TEXT_WIDTH}"],
              "limitr": [f"projection.dim={TEXT_WIDTH}", f"objectives.local.dim={TEXT_WIDTH}"]}


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 4)


def summarise(results: dict) -> dict:
    zs = results["zero_shot"]
    return {"zero_shot_mean_auroc": _finite(zs["mean_auroc"]),
            "zero_shot_auroc": {k: _finite(v["auroc"]) for k, v in zs["per_label"].items()},
            "retrieval": {k: {r: _finite(x) for r, x in v["recall"].items()} for k, v in results["retrieval"].items()}}


def side_by_side(per_recipe: dict) -> dict:
    """One row per recipe: mean zero-shot AUROC and recall@1/5/10 both ways in the pools of 100 and of all."""
    table = {}
    for name, r in per_recipe.items():
        row = {"mean_auroc": r["zero_shot_mean_auroc"]}
        for key, rec in r["retrieval"].items():
            direction, pool = key.split("@")
            short = "i2r" if direction.startswith("image") else "r2i"
            for k, v in rec.items():
                row[f"{short}_R@{k}_{pool}"] = v
        table[name] = row
    return table


def ensure_phantom(data: Path, studies: int, seed: int, workers: int, progress: bool,
                   image_size: int = 256) -> float:
    """Generate the phantom into ``data`` unless a complete one of these settings is there; seconds spent."""
    manifest = data / "phantom_manifest.json"
    previous = json.loads(manifest.read_text()) if manifest.is_file() else {}
    wanted = {"n_studies": studies, "seed": seed, "image_size": image_size, "complete": True}
    t0 = time.perf_counter()
    if any(previous.get(k) != v for k, v in wanted.items()):
        generate(data, studies, seed=seed, image_size=image_size, workers=workers, progress=progress)
    return time.perf_counter() - t0


def pretrain_and_evaluate(name: str, cfg, run_dir: Path, seed: int, progress: bool, eval_root: Path | None = None,
                          eval_splits: tuple[str, ...] = ("test",)) -> tuple[Path, dict, dict]:
    """Pre-train ``cfg`` into ``run_dir/pretrain`` and evaluate it into ``run_dir/eval`` (on ``eval_splits`` of
    ``eval_root``, by default the training phantom's test split):
    ``(checkpoint, evaluate()'s results, {"pretrain_s", "evaluate_s"})``."""
    print(f"[{name}] pre-training {cfg.trainer.max_epochs} epochs", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    ckpt = pretrain(cfg, run_dir / "pretrain", resume=False, progress=progress,
                    extra_trainer_kwargs={"enable_model_summary": False})  # keeps stdout for the JSON
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = evaluate(ckpt, run_dir / "eval", data_root=eval_root and str(eval_root), split=eval_splits,
                       pool_sizes=(0, 100), seed=seed, progress=progress)
    return ckpt, results, {"pretrain_s": round(train_s, 1), "evaluate_s": round(time.perf_counter() - t0, 1)}


def seed_table(per_run: dict, metrics) -> dict:
    """``{run: {metric: {"mean", "seeds", "spread"}}}`` from ``{run: {seed: result}}``; ``metrics(result)`` gives a
    result's numbers; the spread is max - min over the seeds (None with one seed)."""
    out = {}
    for name, seeds in per_run.items():
        rows = [metrics(r) for r in seeds.values()]
        out[name] = {}
        for key in rows[0]:
            values = [r[key] for r in rows if r[key] is not None]
            out[name][key] = {"mean": _finite(np.mean(values)) if values else None,
                              "seeds": [_finite(v) for v in values],
                              "spread": _finite(max(values) - min(values)) if len(values) > 1 else None}
    return out


def seed_table_markdown(summary: dict, chance: dict | None = None) -> str:
    """One row per run: the mean over seeds with each seed in brackets; a last row with the chance levels."""
    cols = list(next(iter(summary.values())))
    lines = ["| run | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 1)]
    for name, row in summary.items():
        cells = []
        for c in cols:
            v = row[c]
            if v["mean"] is None:
                cells.append("–")
            elif len(v["seeds"]) > 1:
                cells.append(f"{v['mean']:.3f} ({' / '.join(f'{s:.3f}' for s in v['seeds'])})")
            else:
                cells.append(f"{v['mean']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if chance:
        lines.append("| chance | " + " | ".join(f"{chance[c]:.3f}" if chance.get(c) is not None else "–"
                                                 for c in cols) + " |")
    return "\n".join(lines) + "\n"


def held_out_grid(args, run_one, extra: list[str], seeds_of=None) -> tuple[dict, float, Path, tuple[str, ...]]:
    """Generate the training phantom and a held-out one (seed + 1000), then ``run_one(name, overrides, run_dir,
    eval_root, eval_splits, pool_seed, progress)`` for every run of ``args.runs`` and seed (``seeds_of(name)``,
    default ``args.train_seeds``), ``args.jobs`` at a time in spawned processes:
    ``({run: {"seedN": result}}, phantom seconds, eval_root, eval_splits)``."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    out = Path(args.out)
    data, eval_root = out / "phantom", out / "phantom_eval"
    eval_splits = ("train", "validate", "test")
    phantom_s = ensure_phantom(data, args.studies, args.seed, args.workers, args.progress, args.image_size)
    phantom_s += ensure_phantom(eval_root, args.eval_studies, args.seed + 1000, args.workers, args.progress,
                                args.image_size)
    shared = [*SHARED, *extra, f"data.root={data}", f"trainer.max_epochs={args.epochs}"]
    jobs = {}
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for name in args.runs:
            for seed in (seeds_of or (lambda _: args.train_seeds))(name):
                overrides = [*shared, f"trainer.seed={seed}", *args.overrides]
                jobs[name, seed] = pool.submit(run_one, name, overrides, out / name / f"seed{seed}", eval_root,
                                               eval_splits, args.seed, args.progress)
    per_run = {name: {f"seed{seed}": jobs[name, seed].result() for (n, seed) in jobs if n == name}
               for name in args.runs}
    return per_run, phantom_s, eval_root, eval_splits


def common_arguments(p: argparse.ArgumentParser, out: str, studies: int, epochs: int) -> None:
    """The options every phantom benchmark takes: where, how many studies, the budget, the seed, overrides."""
    p.add_argument("--out", default=out)
    p.add_argument("--studies", type=int, default=studies, help="phantom studies (split train / validate / test)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="phantom generation processes")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra override applied to every run")
    p.add_argument("--progress", action="store_true")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(p, "runs/bench_recipes", studies=600, epochs=4)
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    args = p.parse_args(argv)

    out = Path(args.out)
    data = out / "phantom"
    phantom_s = ensure_phantom(data, args.studies, args.seed, args.workers, args.progress)

    per_recipe = {}
    for name in args.recipes:
        overrides = [*SHARED, *PER_RECIPE.get(name, []), f"data.root={data}", f"trainer.max_epochs={args.epochs}",
                     f"trainer.seed={args.seed}", *args.overrides]
        cfg = load_recipe(name, overrides)
        _, results, seconds = pretrain_and_evaluate(name, cfg, out / name, args.seed, args.progress)
        per_recipe[name] = {**summarise(results), "objectives": sorted(cfg.objectives), **seconds}
        print(f"[{name}] mean zero-shot AUROC {per_recipe[name]['zero_shot_mean_auroc']:.3f}", file=sys.stderr,
              flush=True)

    report = {
        "benchmark": "recipes_phantom",
        "protocol": {"studies": args.studies, "epochs": args.epochs, "seed": args.seed, "shared_overrides": SHARED,
                     "per_recipe_overrides": PER_RECIPE, "extra_overrides": args.overrides,
                     "evaluation": "frontal view, held-out test split; retrieval recall@k at pool sizes all and 100"},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cuda": torch.cuda.is_available()},
        "phantom_s": round(phantom_s, 1),
        "table": side_by_side(per_recipe),
        "recipes": per_recipe,
    }
    (out / "recipes_phantom.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
