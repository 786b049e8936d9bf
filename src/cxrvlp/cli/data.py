"""``cxrvlp data``: data set utilities; ``cxrvlp data prepare`` resizes a data set once into memory-mapped shards."""
from __future__ import annotations

import argparse
import os

DEFAULT_WORKERS = max(1, min(8, os.cpu_count() or 1))


def register(sub) -> None:
    p = sub.add_parser("data", help="data set utilities (list: the adapters; prepare: resize once into fast shards)",
                       description="Data set utilities.")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    lst = dsub.add_parser("list", help="every registered data adapter with the layout it reads, one line each",
                          description="Print every registered adapter (the names --set data.adapter=NAME, "
                          "--dataset NAME and --adapter NAME take) and the files it expects under its root, one line "
                          "each: NAME<TAB>LAYOUT. Details: docs/datasets.md.")
    lst.set_defaults(func=run_list)
    prep = dsub.add_parser(
        "prepare", help="resize every image of a data set once into memory-mapped uint8 shards",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read DATASET (a registered adapter) from --root, resize every image once (long side to --size,"
        " zero-padded to a square, as training does) and write uint8 shards plus a manifest to --out.\n"
        "Train from them with --set data.adapter=prepared --set data.root=OUT (use --size = data.resize).\n"
        "Interrupted? Re-run the same command: finished shards are kept. Unreadable images are skipped and "
        "listed in OUT/skipped.tsv.\n"
        "  cxrvlp data prepare --dataset phantom --root runs/phantom --out runs/phantom-256 --size 256")
    prep.add_argument("--dataset", required=True, help="registered adapter name (e.g. phantom, mimic_cxr)")
    prep.add_argument("--root", required=True, help="the data set folder, in the adapter's layout")
    prep.add_argument("--out", required=True, help="output folder for the shards and manifest.json")
    prep.add_argument("--size", type=int, default=256, help="prepared image side in pixels (default: 256)")
    prep.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                      help=f"decoding processes (default: {DEFAULT_WORKERS})")
    prep.add_argument("--shard-size", type=int, default=1000, help="studies per shard (default: 1000)")
    prep.add_argument("--overwrite", action="store_true", help="delete a previous preparation in --out first")
    prep.add_argument("--no-progress", action="store_true", help="no progress bar")
    prep.set_defaults(func=run_prepare)


def run_list(args) -> int:
    from cxrvlp.data.adapters import ADAPTERS

    for name, adapter in ADAPTERS.items():
        print(f"{name}\t{adapter.layout or '(no layout recorded)'}")
    return 0


def run_prepare(args) -> int:
    from rich.console import Console

    from cxrvlp.data.prepared.format import SKIPPED
    from cxrvlp.data.prepared.prepare import prepare

    console = Console()
    try:
        report = prepare(args.dataset, args.root, args.out, size=args.size, workers=args.workers,
                         shard_size=args.shard_size, overwrite=args.overwrite, progress=not args.no_progress)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished shards are kept in {args.out}; re-run the same command "
                      "to resume")
        return 130
    m = report.manifest
    c = m["counts"]
    splits = ", ".join(f"{k} {v}" for k, v in c["by_split"].items())
    console.print(f"[bold]{args.out}[/]: {c['studies']} studies ({splits}), {c['images']} images "
                  f"({c['frontal_images']} frontal, {c['lateral_images']} lateral), {c['masks']} masks "
                  f"at {m['size']} px in {len(m['shards'])} shards "
                  f"({len(report.written)} written, {len(report.reused)} already done"
                  + (f", {len(report.removed)} obsolete removed" if report.removed else "") + ")")
    if report.images_resized:
        console.print(f"resized {report.images_resized} images in {report.seconds:.1f} s "
                      f"({report.images_resized / report.seconds:.0f} images/s, {args.workers} workers)")
    if report.skipped_counts:
        console.print(f"[yellow]skipped inputs[/] (all of them in {os.path.join(args.out, SKIPPED)}):")
        for reason, n in sorted(report.skipped_counts.items(), key=lambda kv: -kv[1]):
            examples = [w for _, r, w in report.skipped if r == reason][:3]
            console.print(f"  {n:6d}  {reason}: " + "; ".join(examples), highlight=False, soft_wrap=True)
    else:
        console.print("nothing skipped")
    return 0
