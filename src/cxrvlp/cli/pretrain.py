"""``cxrvlp pretrain``: train a recipe."""
from __future__ import annotations

import argparse

from cxrvlp.recipe import list_recipes, load_recipe


def register(sub) -> None:
    p = sub.add_parser("pretrain", help="pre-train a recipe (YAML) on a data set",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Pre-train a recipe. RECIPE is a built-in name or a YAML path; any key can be "
                       "overridden with --set section.key=value (YAML value), e.g.\n"
                       "  cxrvlp pretrain convirt-tiny --data-root runs/phantom --out runs/convirt "
                       "--set optim.lr=3e-4 --set trainer.max_epochs=5\n"
                       "Re-running with the same --out resumes from checkpoints/last.ckpt.\n"
                       f"Built-in recipes: {', '.join(list_recipes())}")
    p.add_argument("recipe", help="built-in recipe name or path to a recipe YAML")
    p.add_argument("--out", required=True, help="run folder: config.yaml, checkpoints/, logs/")
    p.add_argument("--data-root", help="data set root (overrides data.root)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, repeatable")
    p.add_argument("--no-resume", action="store_true", help="start over even if the run folder has a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.training.pretrain import pretrain

    overrides = list(args.overrides) + ([f"data.root={args.data_root}"] if args.data_root else [])
    cfg = load_recipe(args.recipe, overrides)
    last = pretrain(cfg, args.out, resume=not args.no_resume, progress=not args.no_progress)
    print(f"checkpoint: {last}")
    return 0
