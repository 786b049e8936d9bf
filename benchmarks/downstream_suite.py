"""The downstream suite on the real sets of ../shared/data for one model; writes one results table.

    python benchmarks/downstream_suite.py imagenet --out runs/downstream/imagenet
    python benchmarks/downstream_suite.py runs/demo/pretrain/checkpoints/last.ckpt --out runs/downstream/demo
    cxrvlp report runs/downstream/imagenet runs/downstream/demo        # models side by side

Tasks (frozen encoder, features cached once per data set): linear probe on Shenzhen TB and JSRT nodule (1/10/100 %
of the training labels, 3 seeds); U-Net segmentation of JSRT lungs + heart, Montgomery and Shenzhen lungs and FCOS
detection of the COVID lung boxes (1/10/100 %, ``--dense-seeds``); zero-shot and retrieval on the COVID notes for a
checkpoint with a text side. Every task writes its own folder; ``results.md`` is the table of all of them. Prints
JSON: seconds per task and the table's path.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cxrvlp.evaluation.classification import evaluate_linear  # noqa: E402
from cxrvlp.evaluation.compare import comparison_table  # noqa: E402
from cxrvlp.evaluation.data import load_eval_data  # noqa: E402
from cxrvlp.evaluation.dense import detection_task, evaluate_dense, segmentation_task  # noqa: E402
from cxrvlp.evaluation.encoder_source import REFERENCE_INITS, resolve_encoder  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# (task, adapter, name in the table, options)
SUITE = (
    ("linear", "shenzhen_tb", "Shenzhen TB", {"labels": ("Tuberculosis",)}),
    ("linear", "jsrt_lungs", "JSRT nodule", {"labels": ("Nodule",)}),
    ("segment", "jsrt_lungs", "JSRT lungs+heart", {"classes": ("right_lung", "left_lung", "heart")}),
    ("segment", "montgomery_lungs", "Montgomery lungs", {"classes": ("lung",)}),
    ("segment", "shenzhen_tb", "Shenzhen lungs", {"classes": ("lung",)}),
    ("detect", "covid_cxr_notes", "COVID lung boxes", {}),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a .ckpt, or imagenet / random")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(SHARED), help="the shared data folder")
    ap.add_argument("--encoder", default="efficientnet_lite0", help="architecture of an imagenet / random row")
    ap.add_argument("--image-size", type=int, default=224, help="whole images of this size for every model")
    ap.add_argument("--fractions", default="1,10,100")
    ap.add_argument("--linear-seeds", default="0,1,2")
    ap.add_argument("--dense-seeds", default="0")
    ap.add_argument("--cache-dir", default="runs/downstream/.feature_cache")
    ap.add_argument("--only", help="comma-separated table names to run (default: all)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: small head ops lose more to thread "
                    "contention than they gain on a shared 2-core machine; 0 = torch default)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    out = Path(args.out)
    source = resolve_encoder(args.model, args.encoder, args.image_size)
    fractions = tuple(float(f) / 100 for f in args.fractions.split(","))
    seeds = {"linear": tuple(map(int, args.linear_seeds.split(","))),
             "dense": tuple(map(int, args.dense_seeds.split(",")))}
    only = set(args.only.split(",")) if args.only else None
    common = dict(fractions=fractions, cache_dir=args.cache_dir, progress=not args.no_progress)
    timings = {}
    for task, adapter, name, opts in SUITE:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        data = load_eval_data(adapter, Path(args.data) / adapter)
        folder = out / name.lower().replace(" ", "_").replace("+", "_")
        if task == "linear":
            evaluate_linear(source, data, folder, labels=opts["labels"], seeds=seeds["linear"], dataset_name=name,
                            **common)
        else:
            make = segmentation_task if task == "segment" else detection_task
            evaluate_dense(make(data, opts.get("classes", ())), source, data, folder, seeds=seeds["dense"],
                           dataset_name=name, **common)
        timings[name] = round(time.perf_counter() - t0, 1)
    if args.model not in REFERENCE_INITS and (not only or "COVID notes" in only):
        from cxrvlp.evaluation.zeroshot_retrieval import evaluate

        t0 = time.perf_counter()
        evaluate(args.model, out / "covid_notes_text", data_root=str(Path(args.data) / "covid_cxr_notes"),
                 adapter="covid_cxr_notes", pool_sizes=(0, 32), progress=not args.no_progress)
        timings["COVID notes"] = round(time.perf_counter() - t0, 1)
    table = comparison_table([out])
    (out / "results.md").write_text(table)
    print(table)
    print(json.dumps({"model": source.label, "image_size": args.image_size, "seconds": timings,
                      "table": str(out / "results.md")}, indent=2))


if __name__ == "__main__":
    main()
