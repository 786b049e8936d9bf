"""``cxrvlp export``: a run or checkpoint as a self-describing folder that ``cxrvlp.load`` (and timm, transformers)
read without cxrvlp's recipe files, the training data or the text model folder."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("export", help="write a trained model as a self-describing folder (safetensors, config, "
                       "tokenizer, timm + transformers copies, model card, SHA256SUMS)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Export the checkpoint of a pre-training run (RUN/checkpoints/last.ckpt) or a given "
                       ".ckpt into --out: model.safetensors (image tower, text tower, projections), config.json "
                       "(recipe, encoders, preprocessing), text/ (transformers folder with the tokenizer), image/ "
                       "(timm folder), README.md (model card: data, results found in the run folder, intended use "
                       "and limits) and SHA256SUMS. The folder is loaded back and checked before the command ends.\n"
                       "  cxrvlp export runs/convirt --out models/convirt\n"
                       "  python -c 'import cxrvlp; model, preprocess, tokenizer = cxrvlp.load(\"models/convirt\")'")
    p.add_argument("source", metavar="RUN_OR_CKPT", help="a cxrvlp pretrain run folder or a .ckpt")
    p.add_argument("--out", required=True, help="the export folder to write (new, empty, or an export with "
                   "--overwrite)")
    p.add_argument("--text-path", help="the recipe's local text model folder (text_encoder.path) if it has moved")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.export.writer import export_model

    report = export_model(args.source, args.out, text_path=args.text_path, overwrite=args.overwrite)
    print(f"exported {report.checkpoint} → {report.folder} ({len(report.files)} files, listed in SHA256SUMS)")
    print(f"checked: loaded back, image embeddings equal to the checkpoint's (max |Δ| {report.max_abs_diff:.2g})")
    print(f"load it: model, preprocess, tokenizer = cxrvlp.load({str(report.folder)!r}); model card: "
          f"{report.folder / 'README.md'}")
    return 0
