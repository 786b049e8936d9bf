"""``cxrvlp embed``: image embeddings of every image in a folder (yours, or any registered adapter's layout)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("embed", help="embed every image of a folder with a trained model (npz or safetensors)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Embed every image under DIR (the 'folder' adapter by default: PNG 8/16-bit, "
                       "JPEG, DICOM, TIFF, anywhere below DIR) with --model (an export folder or a .ckpt). Writes "
                       "--out as .npz (arrays image_ids, paths, study_ids, views, embeddings [N, D] L2-normalised in "
                       "the joint image-text space, features [N, G] the encoder's global features) or .safetensors "
                       "(embeddings, features; ids, paths, study ids and views in the header metadata as JSON).\n"
                       "  cxrvlp embed my_images/ --model models/convirt --out my_images.npz")
    folder_arguments(p)
    p.add_argument("--out", required=True, help="output file: .npz or .safetensors")
    p.set_defaults(func=run)


def folder_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of the commands that run a model over a folder of the user's images (embed, zeroshot)."""
    p.add_argument("dir", metavar="DIR", help="a folder of images (or a data set root with --adapter)")
    p.add_argument("--model", required=True, help="an export folder (cxrvlp export) or a .ckpt")
    p.add_argument("--adapter", default="folder", help="how to read DIR (default: folder; `cxrvlp data list`)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    from cxrvlp import load
    from cxrvlp.export.inference import embed_items, image_items, save_embeddings

    out_suffix = args.out.rsplit(".", 1)[-1] if "." in args.out else ""
    if out_suffix not in ("npz", "safetensors"):
        raise ValueError(f"--out {args.out}: must end in .npz or .safetensors")
    items, skips, _ = image_items(args.adapter, args.dir)
    if not items:
        raise ValueError(f"{args.dir}: no images found by the {args.adapter!r} adapter ({skips.summary()})")
    model, preprocess, _ = load(args.model, text=False)
    emb = embed_items(model, preprocess, items, args.batch_size, progress=not args.no_progress)
    path = save_embeddings(args.out, emb, str(args.model))
    print(f"{len(emb.items)} images embedded → {path} (embeddings {tuple(emb.embeddings.shape)}, features "
          f"{tuple(emb.features.shape)})")
    for what, log in (("skipped while listing", skips), ("could not be read", emb.failed)):
        if log.counts:
            print(f"{log.total} {what}: {log.summary()}")
    return 0
