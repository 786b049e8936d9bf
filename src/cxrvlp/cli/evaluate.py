"""``cxrvlp evaluate``: zero-shot classification and retrieval for a checkpoint."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="zero-shot AUROC and image-report retrieval of a checkpoint",
                       description="Embed the held-out studies with a checkpoint; write metrics.json (with the "
                       "protocol: split, study-id hash, preprocessing, checkpoint SHA-256), results.md and a ROC "
                       "plot to --out.")
    p.add_argument("checkpoint", help="a .ckpt written by cxrvlp pretrain")
    p.add_argument("--out", required=True, help="folder for the result files")
    p.add_argument("--data-root", help="data set root (default: the one the checkpoint was trained on)")
    p.add_argument("--adapter", help="data adapter name (default: the checkpoint's)")
    p.add_argument("--split", default="test", choices=("train", "validate", "test"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--pool-size", type=int, action="append", default=None,
                   help="retrieval pool size, repeatable (0 = all held-out studies; default 0 and 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the retrieval pool split")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.evaluation.report import markdown_table
    from cxrvlp.evaluation.zeroshot_retrieval import evaluate

    results = evaluate(args.checkpoint, args.out, data_root=args.data_root, adapter=args.adapter, split=args.split,
                       batch_size=args.batch_size, pool_sizes=tuple(args.pool_size or (0, 100)), seed=args.seed,
                       progress=not args.no_progress)
    print(markdown_table(results))
    print(f"results: {args.out}")
    return 0
