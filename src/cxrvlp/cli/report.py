"""``cxrvlp report RUN_DIRS...``: evaluation runs side by side in one Markdown table."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("report", help="put evaluation runs side by side in one results table",
                       description="Read the metrics.json of each run folder (or every one under a folder) and "
                       "print one Markdown table: a row per data set, metric and label fraction, a column per model "
                       "(mean ± std over seeds, ×100).")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, folders of runs, or metrics.json files")
    p.add_argument("--out", help="also write the table to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.evaluation.compare import comparison_table

    table = comparison_table(args.runs)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table)
    print(table)
    return 0
