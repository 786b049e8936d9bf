"""``cxrvlp demo``: phantom → pre-training → evaluation on the CPU, in a few minutes."""
from __future__ import annotations

import json
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="generate a phantom, pre-train the demo recipe, evaluate, print the results",
                       description="The whole pipeline on the embedded phantom: generate --studies studies "
                       "(reused if already there), pre-train RECIPE, evaluate zero-shot AUROC and retrieval on "
                       "the held-out test split, and print the table. Everything goes under --out.")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--recipe", default="convirt-demo", help="recipe to pre-train (default: convirt-demo)")
    p.add_argument("--studies", type=int, default=2000, help="phantom studies to generate (default: 2000)")
    p.add_argument("--image-size", type=int, default=192, help="phantom image height in pixels (default: 192)")
    p.add_argument("--seed", type=int, default=0, help="phantom and training seed")
    p.add_argument("--workers", type=int, default=2, help="phantom generation processes")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, repeatable")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from cxrvlp.evaluation.report import markdown_table
    from cxrvlp.evaluation.zeroshot_retrieval import evaluate
    from cxrvlp.phantom import generate
    from cxrvlp.recipe import load_recipe
    from cxrvlp.training.pretrain import pretrain

    console = Console()
    out = Path(args.out)
    data, run_dir, eval_dir = out / "phantom", out / "pretrain", out / "eval"
    timings = {}
    t0 = time.perf_counter()
    manifest = data / "phantom_manifest.json"
    wanted = {"n_studies": args.studies, "seed": args.seed, "image_size": args.image_size}
    if manifest.is_file() and all(json.loads(manifest.read_text()).get(k) == v for k, v in wanted.items()):
        console.print(f"[bold]1/3[/] phantom: reusing {data}")
    else:
        console.print(f"[bold]1/3[/] phantom: generating {args.studies} studies into {data}")
        generate(data, args.studies, seed=args.seed, image_size=args.image_size, workers=args.workers,
                 progress=not args.no_progress)
    timings["phantom_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cfg = load_recipe(args.recipe, [f"data.root={data}", f"trainer.seed={args.seed}", *args.overrides])
    console.print(f"[bold]2/3[/] pre-training recipe {cfg.name!r} into {run_dir}")
    ckpt = pretrain(cfg, run_dir, resume=True, progress=not args.no_progress)
    timings["pretrain_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    console.print(f"[bold]3/3[/] evaluating {ckpt} on the held-out test split")
    results = evaluate(ckpt, eval_dir, pool_sizes=(0, 100), seed=args.seed, progress=not args.no_progress)
    timings["evaluate_s"] = time.perf_counter() - t0
    (out / "demo_timings.json").write_text(json.dumps(timings, indent=2))
    console.print(Markdown(markdown_table(results)))
    console.print(f"zero-shot mean AUROC: [bold]{results['zero_shot']['mean_auroc']:.3f}[/]   "
                  f"time: " + ", ".join(f"{k[:-2]} {v:.0f}s" for k, v in timings.items()))
    console.print(f"wrote {out.resolve()}  (eval: {eval_dir / 'results.md'}, {eval_dir / 'roc_zero_shot.png'})")
    return 0
