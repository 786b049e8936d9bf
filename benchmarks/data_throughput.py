"""Images/s of ``cxrvlp data prepare`` (1 and 2 workers) and of the training loader reading the raw JPEG layout vs
the prepared shards (batch 32, the ``convirt-demo`` recipe's preprocessing), on this machine. Prints JSON.

Two inputs: a phantom at the demo's image size (256 px JPEGs) and a copy whose JPEGs are upscaled to radiograph size
(``--large-side``, default 2048 px: MIMIC-CXR-JPG images are about 2500 × 3000), where decoding dominates.

    python benchmarks/data_throughput.py                       # about 2 minutes on 2 CPU cores
    python benchmarks/data_throughput.py --studies 512 --large-studies 192 --loader-workers 0 2 4
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from cxrvlp.data.prepared.prepare import prepare
from cxrvlp.phantom import generate
from cxrvlp.recipe import load_recipe
from cxrvlp.training.datamodule import StudyDataModule

RECIPE = "convirt-demo"


def _tokenizer():
    """The demo's MiniLM tokenizer when its offline package is installed, else a whitespace stand-in."""
    from cxrvlp.text.tokenize import Tokenize

    try:
        from cxrvlp.encoders.text import load_tokenizer, minilm_path

        return Tokenize(load_tokenizer(minilm_path())), "minilm"
    except ImportError:
        def whitespace(texts, max_length):
            ids = [[len(w) + 1 for w in t.split()][:max_length] or [1] for t in texts]
            width = max(map(len, ids))
            input_ids = torch.tensor([i + [0] * (width - len(i)) for i in ids])
            return {"input_ids": input_ids, "attention_mask": (input_ids > 0).long()}

        return whitespace, "whitespace stand-in"


def upscale_jpegs(root: Path, long_side: int) -> None:
    for path in root.rglob("*.jpg"):
        with Image.open(path) as im:
            scale = long_side / max(im.size)
            big = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
        big.save(path, quality=95)


def time_prepare(root: Path, out: Path, size: int, workers: int) -> dict:
    t0 = time.perf_counter()
    report = prepare("phantom", root, out, size=size, workers=workers, shard_size=128, overwrite=True,
                     progress=False)
    seconds = time.perf_counter() - t0
    return {"workers": workers, "images": report.images_resized, "seconds": round(seconds, 3),
            "images_per_s": round(report.images_resized / seconds, 1)}


def time_loader(adapter: str, root: Path, loader_workers: int, tokenizer, epochs: int) -> dict:
    """Images/s of full passes through the training loader over every study of the data set (so that small test
    sets still give several batches), with training-time augmentation; the first pass includes worker start-up."""
    overrides = [f"data.adapter={adapter}", f"data.root={root}", f"data.num_workers={loader_workers}",
                 "data.cache_resized=true"]
    recipe = load_recipe(RECIPE, overrides)
    dm = StudyDataModule(recipe.data, tokenizer, mean=0.5, std=0.5,
                         max_length=int(recipe.text_encoder.get("max_length", 128)))
    dm.setup()
    dm.datasets["train"] = dm.make_dataset([s for ds in dm.datasets.values() for s in ds.studies], train=True)
    loader = dm.train_dataloader()
    per_epoch = []
    for _ in range(epochs):
        t0, images = time.perf_counter(), 0
        for batch in loader:
            images += batch["frontal"].shape[0] + batch["lateral"].shape[0]
        per_epoch.append(round(images / (time.perf_counter() - t0), 1))
    return {"loader_workers": loader_workers, "images_per_epoch": images, "images_per_s_by_epoch": per_epoch}


def bench_input(name: str, root: Path, work: Path, size: int, prepare_workers: list[int], loader_workers: list[int],
                tokenizer, epochs: int) -> dict:
    out = work / f"{name}-prepared"
    result = {"prepare": [time_prepare(root, out, size, w) for w in prepare_workers], "loader": []}
    for lw in loader_workers:
        result["loader"].append({"layout": "raw JPEG (decode + resize each image once per loader worker, then the "
                                           "in-memory uint8 cache: data.cache_resized=true)",
                                 **time_loader("phantom", root, lw, tokenizer, epochs)})
        result["loader"].append({"layout": "prepared shards (memory-mapped uint8)",
                                 **time_loader("prepared", out, lw, tokenizer, epochs)})
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=int, default=256, help="phantom studies at the demo's 256 px")
    p.add_argument("--large-studies", type=int, default=96, help="phantom studies upscaled to --large-side")
    p.add_argument("--large-side", type=int, default=2048)
    p.add_argument("--prepare-workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--loader-workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--epochs", type=int, default=2, help="loader passes (the raw layout's cache fills in pass 1)")
    p.add_argument("--work-dir", help="where to generate data (default: a temporary folder, removed afterwards)")
    args = p.parse_args()

    recipe = load_recipe(RECIPE)
    tokenizer, tokenizer_name = _tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        t0 = time.perf_counter()
        small = generate(work / "phantom", args.studies, seed=0, workers=2, progress=False)
        large = generate(work / "phantom-large", args.large_studies, seed=1, workers=2, progress=False)
        upscale_jpegs(large, args.large_side)
        setup_s = time.perf_counter() - t0
        common = dict(work=work, size=recipe.data.resize, prepare_workers=args.prepare_workers,
                      loader_workers=args.loader_workers, tokenizer=tokenizer, epochs=args.epochs)
        results = {
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads(),
                        "load_average_1min_at_start": round(os.getloadavg()[0], 2)},
            "settings": {"recipe": RECIPE, "resize": recipe.data.resize, "crop": recipe.data.crop,
                         "batch_size": recipe.data.batch_size, "use_lateral": recipe.data.use_lateral,
                         "augment": recipe.data.augment, "tokenizer": tokenizer_name, "prepared_size":
                         recipe.data.resize, "epochs": args.epochs, "data_generation_s": round(setup_s, 1)},
            "phantom_256px": {"studies": args.studies,
                              **bench_input("small", small, **common)},
            f"phantom_upscaled_{args.large_side}px": {"studies": args.large_studies,
                                                      **bench_input("large", large, **common)},
        }
    results["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)  # other work on the machine
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
