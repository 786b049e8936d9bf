"""``cxrvlp explain``: where an F-L checkpoint looks for a phrase, as a heat map over both views of a study."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("explain", help="key-patch scores and word-patch attention for a phrase over a study (PNG)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="For an F-L checkpoint (recipe model 'fl'), a study and a phrase, draw the "
                       "key-patch scores (tokens left out of the MLM's key set crossed) and the word-patch attention "
                       "of the frontal-lateral query decoder over the frontal and lateral views.\n"
                       "  cxrvlp explain runs/fl/checkpoints/last.ckpt --study-dir runs/phantom/files/p10/p10000001/"
                       "s50000001 --phrase \"retrocardiac opacity\" --out explain.png")
    p.add_argument("checkpoint", help="a .ckpt written by cxrvlp pretrain with an F-L recipe")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--study-dir", help="a MIMIC-CXR-JPG-layout study folder (views from the metadata CSV above it)")
    where.add_argument("--frontal", help="frontal image file")
    p.add_argument("--lateral", help="lateral image file (with --frontal)")
    p.add_argument("--phrase", required=True, help="the phrase to ground, e.g. \"small left pleural effusion\"")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.evaluation.grounding import ground_phrase, load_view, plot_grounding, study_images
    from cxrvlp.methods.loading import load_model

    if args.lateral and not args.frontal:
        raise ValueError("--lateral goes with --frontal (a --study-dir brings its own views)")
    frontal, lateral = study_images(args.study_dir) if args.study_dir else (args.frontal, args.lateral)
    model = load_model(args.checkpoint)
    maps = ground_phrase(model, load_view(frontal, model), load_view(lateral, model) if lateral else None,
                         args.phrase)
    out = plot_grounding(maps, args.phrase, args.out)
    for m in maps:
        y, x = divmod(int(m.attention.argmax()), m.attention.shape[1])
        print(f"{m.name}: strongest word-patch attention at grid cell (row {y}, col {x}) of {m.attention.shape}; "
              f"{int(m.kept.sum())} of {m.kept.size} tokens kept")
    print(f"heat map: {out}")
    return 0
