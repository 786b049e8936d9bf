"""``cxrvlp evaluate TASK MODEL --out DIR``: the downstream tasks, one subcommand each.

``MODEL`` is a checkpoint of any recipe, or ``imagenet`` / ``random`` for a reference row (``--encoder`` names the
architecture). ``cxrvlp evaluate CHECKPOINT --out DIR`` (no task) still runs zero-shot + retrieval.
"""
from __future__ import annotations

import argparse

TASKS = ("linear", "zeroshot", "retrieval", "segment", "detect", "grounding", "vqa")
BOTH_TEXT_TASKS = "zeroshot+retrieval"  # what the task-less form runs


class _TaskOrCheckpoint(argparse._SubParsersAction):
    """A first word that is not a task is the checkpoint of the task-less form: run zero-shot + retrieval."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values and not dict.__contains__(self._name_parser_map, values[0]):
            values = [BOTH_TEXT_TASKS, *values]
        super().__call__(parser, namespace, values, option_string)


class _AnyChoice(dict):
    def __contains__(self, key) -> bool:  # argparse checks the first word against the choices before the action
        return True


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="downstream evaluation: linear probe, zero-shot, retrieval, segmentation, "
                       "detection, grounding", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = p.add_subparsers(dest="task", metavar="TASK", action=_TaskOrCheckpoint, required=True)

    lin = _task_parser(tasks, "linear", "linear probe (or --finetune) on label fractions; AUROC / accuracy")
    lin.add_argument("--labels", help="comma-separated label names (default: all of the adapter's)")
    lin.add_argument("--multiclass", action="store_true", help="labels are one-hot classes: accuracy, not AUROC")
    lin.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs (with --finetune)")
    lin.set_defaults(func=run_linear, default_seeds="0,1,2")

    for name, what, func in (("segment", "U-Net decoder on the encoder's pyramid; Dice and IoU", run_segment),
                             ("detect", "FCOS head on the encoder's pyramid; mAP over IoU 0.4-0.75", run_detect)):
        d = _task_parser(tasks, name, what)
        d.add_argument("--classes", help="comma-separated mask/box classes (default: all found in the train split)")
        d.add_argument("--missing", choices=("skip", "empty"),
                       help="an image without an annotation: leave it out (default) or count it as empty "
                       "(default on the phantom, whose ground truth is complete)")
        d.add_argument("--epochs", type=int, default=10)
        d.add_argument("--max-steps", type=int, default=400)
        d.add_argument("--lr", type=float, default=1e-3)
        d.set_defaults(func=func, default_seeds="0")

    for name, what in (("zeroshot", "zero-shot AUROC from text prompts (checkpoints with a text side)"),
                       ("retrieval", "image-report retrieval R@1/5/10 in pools"),
                       (BOTH_TEXT_TASKS, "both (what `cxrvlp evaluate CHECKPOINT --out DIR` runs)")):
        t = tasks.add_parser(name, help=what, description=what)
        t.add_argument("model", metavar="CHECKPOINT", help="a .ckpt written by cxrvlp pretrain")
        t.add_argument("--out", required=True, help="folder for the result files")
        t.add_argument("--data-root", help="data set root (default: the one the checkpoint was trained on)")
        t.add_argument("--adapter", help="data adapter name (default: the checkpoint's)")
        t.add_argument("--split", default="test", choices=("train", "validate", "test"))
        t.add_argument("--batch-size", type=int, default=64)
        t.add_argument("--pool-size", type=int, action="append", default=None,
                       help="retrieval pool size, repeatable (0 = all held-out studies; default 0 and 100)")
        t.add_argument("--seed", type=int, default=0, help="seed of the retrieval pool split")
        t.add_argument("--no-progress", action="store_true")
        t.set_defaults(func=run_text, text_tasks={"zeroshot": ("zero_shot",), "retrieval": ("retrieval",)}.get(
            name, ("zero_shot", "retrieval")))
    g = tasks.add_parser("grounding", help="word-to-patch maps of finding phrases vs the true finding masks "
                         "(phantom; recipes with local features)",
                         description="Score each positive finding phrase's word-to-patch map against its finding's "
                         "mask on every view the model encodes: pointing game, mask AUROC, energy inside the mask, "
                         "each beside its chance level (docs/downstream.md, evaluation/grounding_eval.py).")
    g.add_argument("model", metavar="CHECKPOINT", help="a .ckpt of a recipe with local features")
    g.add_argument("--out", required=True, help="folder for metrics.json, results.md, grounding_maps.png")
    g.add_argument("--data-root", help="data set root (default: the one the checkpoint was trained on)")
    g.add_argument("--adapter", help="data adapter name (default: the checkpoint's; needs finding masks)")
    g.add_argument("--split", default="test", choices=("train", "validate", "test"))
    g.add_argument("--limit", type=int, default=0, help="keep N studies, evenly spaced by study id (quick runs)")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--tolerance", type=int, default=0,
                   help="pointing game: the maximum may lie this many patches from the mask (default 0)")
    g.add_argument("--examples", type=int, default=6, help="phrases drawn in grounding_maps.png (default 6)")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    g.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=run_grounding)
    v = tasks.add_parser("vqa", help="closed-set visual question answering with a small answer head on frozen "
                         "pair features (phantom questions from the ground truth, VQA-RAD, SLAKE)",
                         description="Train an answer head on the train questions and score the held-out ones: "
                         "accuracy per question type beside the majority answer (cxrvlp/vqa/evaluate.py).")
    v.add_argument("model", metavar="CHECKPOINT")
    v.add_argument("--out", required=True, help="folder for metrics.json, results.md")
    v.add_argument("--dataset", default="phantom", choices=("phantom", "vqa_rad", "slake"))
    v.add_argument("--data-root", help="data set root (default: the checkpoint's phantom)")
    v.add_argument("--epochs", type=int, default=30)
    v.add_argument("--batch-size", type=int, default=64)
    v.add_argument("--limit", type=int, default=0, help="keep N questions, evenly spaced (quick runs)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(func=run_vqa)
    tasks._name_parser_map = tasks.choices = _AnyChoice(tasks._name_parser_map)


def _task_parser(tasks, name: str, what: str) -> argparse.ArgumentParser:
    t = tasks.add_parser(name, help=what, description=what)
    t.add_argument("model", metavar="MODEL", help="a .ckpt written by cxrvlp pretrain, or imagenet / random")
    t.add_argument("--out", required=True, help="folder for metrics.json, results.md, plots, fraction_ids.json")
    t.add_argument("--adapter", help="data adapter (default: the checkpoint's; required for imagenet / random)")
    t.add_argument("--data-root", help="data set root (default: the checkpoint's)")
    t.add_argument("--encoder", default="efficientnet_lite0", help="architecture of an imagenet / random row")
    t.add_argument("--image-size", type=int, help="evaluate whole images of this size (default: the checkpoint's "
                   "resize/crop; 224 for imagenet / random)")
    t.add_argument("--fractions", default="1,10,100", help="label fractions in %% (default 1,10,100)")
    t.add_argument("--seeds", help="comma-separated seeds per fraction")
    t.add_argument("--finetune", action="store_true", help="train the encoder too (no feature cache)")
    t.add_argument("--cache-dir", help="feature cache (default $CXRVLP_FEATURE_CACHE or ~/.cache/cxrvlp/features)")
    t.add_argument("--limit", type=int, default=0,
                   help="keep N studies of each split, evenly spaced by study id (quick runs)")
    t.add_argument("--name", help="data set name in the tables (default: the adapter's)")
    t.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    t.add_argument("--no-progress", action="store_true")
    return t


def _common(args):
    from cxrvlp.evaluation.data import load_eval_data
    from cxrvlp.evaluation.encoder_source import resolve_encoder

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    source = resolve_encoder(args.model, args.encoder, args.image_size)
    cfg = source.model.cfg.data if source.model is not None else None
    adapter = args.adapter or (cfg.adapter if cfg else None)
    root = args.data_root or (cfg.root if cfg else None)
    if not adapter or not root:
        raise ValueError(f"{args.model}: give --adapter and --data-root (a reference row has no training data)")
    data = load_eval_data(adapter, root, limit=args.limit)
    fractions = tuple(float(f) / 100.0 for f in args.fractions.split(","))
    seeds = tuple(int(s) for s in (args.seeds or args.default_seeds).split(","))
    return source, data, fractions, seeds


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _print(results: dict, out: str) -> int:
    from pathlib import Path

    print((Path(out) / "results.md").read_text())
    print(f"results: {out}")
    return 0


def run_linear(args) -> int:
    from cxrvlp.evaluation.classification import evaluate_linear

    source, data, fractions, seeds = _common(args)
    results = evaluate_linear(source, data, args.out, labels=_split(args.labels),
                              task_type="multiclass" if args.multiclass else "multilabel", fractions=fractions,
                              seeds=seeds, finetune=args.finetune, epochs=args.epochs, cache_dir=args.cache_dir,
                              dataset_name=args.name, progress=not args.no_progress)
    return _print(results, args.out)


def _run_dense(args, make_task) -> int:
    from cxrvlp.evaluation.dense import TrainingPlan, evaluate_dense

    source, data, fractions, seeds = _common(args)
    task = make_task(data, _split(args.classes), args.missing)
    plan = TrainingPlan(epochs=args.epochs, max_steps=args.max_steps, lr=args.lr)
    results = evaluate_dense(task, source, data, args.out, fractions=fractions, seeds=seeds, finetune=args.finetune,
                             plan=plan, cache_dir=args.cache_dir, dataset_name=args.name,
                             progress=not args.no_progress)
    return _print(results, args.out)


def run_segment(args) -> int:
    from cxrvlp.evaluation.dense import segmentation_task

    return _run_dense(args, segmentation_task)


def run_detect(args) -> int:
    from cxrvlp.evaluation.dense import detection_task

    return _run_dense(args, detection_task)


def run_text(args) -> int:
    from cxrvlp.evaluation.report import markdown_table
    from cxrvlp.evaluation.zeroshot_retrieval import evaluate

    results = evaluate(args.model, args.out, data_root=args.data_root, adapter=args.adapter, split=args.split,
                       batch_size=args.batch_size, pool_sizes=tuple(args.pool_size or (0, 100)), seed=args.seed,
                       progress=not args.no_progress, tasks=args.text_tasks)
    print(markdown_table(results))
    print(f"results: {args.out}")
    return 0


def run_vqa(args) -> int:
    from cxrvlp.vqa.evaluate import evaluate_vqa

    evaluate_vqa(args.model, args.out, dataset=args.dataset, data_root=args.data_root, epochs=args.epochs,
                 batch_size=args.batch_size, seed=args.seed, limit=args.limit, progress=not args.no_progress)
    return _print({}, args.out)


def run_grounding(args) -> int:
    from cxrvlp.evaluation.grounding_eval import evaluate_grounding

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.tolerance < 0:
        raise ValueError(f"--tolerance must be >= 0 patches, got {args.tolerance}")
    evaluate_grounding(args.model, args.out, data_root=args.data_root, adapter=args.adapter, split=args.split,
                       batch_size=args.batch_size, limit=args.limit, tolerance=args.tolerance,
                       examples=args.examples, device=args.device, progress=not args.no_progress)
    return _print({}, args.out)
