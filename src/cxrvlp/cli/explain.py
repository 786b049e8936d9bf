"""``cxrvlp explain``: where a checkpoint with local features looks for a phrase, as a heat map over each view of a
study that the model encodes (F-L: its key-patch scores too)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("explain", help="a phrase's word-to-patch map over a study's views (PNG), any recipe with "
                       "local features", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="For a checkpoint of a recipe with local features (GLoRIA, MGCA, LIMITR, F-L, "
                       "...), a study and a phrase, draw the phrase's word-to-patch map (the model's word_patch_maps, "
                       "averaged over the phrase's words) over every view the model encodes; for F-L also the "
                       "key-patch scores (tokens left out of the MLM's key set crossed).\n"
                       "  cxrvlp explain runs/fl/checkpoints/last.ckpt --study-dir runs/phantom/files/p10/p10000001/"
                       "s50000001 --phrase \"retrocardiac opacity\" --out explain.png")
    p.add_argument("checkpoint", help="a .ckpt written by cxrvlp pretrain with a recipe that has local features")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--study-dir", help="a MIMIC-CXR-JPG-layout study folder (views from the metadata CSV above it)")
    where.add_argument("--frontal", help="frontal image file")
    p.add_argument("--lateral", help="lateral image file (with --frontal)")
    p.add_argument("--phrase", required=True, help="the phrase to ground, e.g. \"small left pleural effusion\"")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.evaluation.grounding import ground_phrase, has_local_features, load_view, plot_grounding, study_images
    from cxrvlp.methods.loading import load_model

    if args.lateral and not args.frontal:
        raise ValueError("--lateral goes with --frontal (a --study-dir brings its own views)")
    frontal, lateral = study_images(args.study_dir) if args.study_dir else (args.frontal, args.lateral)
    model = load_model(args.checkpoint)
    if not has_local_features(model):
        raise ValueError(f"recipe {model.cfg.name} has no local features: nothing to explain")
    maps = ground_phrase(model, load_view(frontal, model), load_view(lateral, model) if lateral else None,
                         args.phrase)
    out = plot_grounding(maps, args.phrase, args.out)
    if lateral and all(m.name != "lateral" for m in maps):
        print(f"recipe {model.cfg.name} encodes the frontal view only: the lateral image is not shown")
    for m in maps:
        y, x = divmod(int(m.map.argmax()), m.map.shape[1])
        kept = f"; {int(m.kept.sum())} of {m.kept.size} tokens kept" if m.kept is not None else ""
        print(f"{m.name}: strongest word-to-patch map value at grid cell (row {y}, col {x}) of {m.map.shape}{kept}")
    print(f"heat map: {out}")
    return 0
