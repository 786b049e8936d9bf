"""One training step of each paper-scale recipe on synthetic studies: time per step and peak GPU memory, as JSON.

    python benchmarks/recipes_paper_scale_step.py                    # the recipes' own batch size, crop, precision
    python benchmarks/recipes_paper_scale_step.py --batch-size 8 --device cpu --steps 1   # a quick look on a CPU

Checks that the recipes as the papers configure them (ResNet-50 at 299 px, a Bio_ClinicalBERT-sized text encoder,
GLoRIA/LIMITR batch 48, MGCA 72, ConVIRT 32) fit on one GPU and what a step costs. The text encoder is a randomly
initialised BERT of Bio_ClinicalBERT's size (768 wide, 12 layers, 6 for MGCA, which truncates it) so that no
weights are needed; token ids are random over the vocabulary at the recipe's max_length; 3 of 4 studies have a
lateral view. Weights are random: only speed and memory are measured.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from cxrvlp.methods.loading import build_pretraining
from cxrvlp.objectives import compute_losses, frozen_parameters
from cxrvlp.optim import build_optimizer
from cxrvlp.recipe import load_recipe

RECIPES = ("convirt", "gloria", "mgca", "limitr")
CLINICAL_BERT = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


def synthetic_batch(model, batch_size: int, crop: int, length: int, device) -> dict:
    g = torch.Generator().manual_seed(0)
    lateral_index = torch.tensor([i for i in range(batch_size) if i % 4], dtype=torch.long)
    ids = torch.randint(1000, model.text_encoder.vocab_size, (batch_size, length), generator=g)
    ids[:, 0], ids[:, -1] = model.text_encoder.tokenizer.cls_token_id, model.text_encoder.tokenizer.sep_token_id
    batch = {"frontal": torch.randn(batch_size, 1, crop, crop, generator=g),
             "lateral": torch.randn(len(lateral_index), 1, crop, crop, generator=g),
             "lateral_index": lateral_index, "input_ids": ids, "attention_mask": torch.ones_like(ids)}
    hidden = torch.rand(ids.shape, generator=g) < 0.15  # masked-word targets for recipes with an MLM term
    hidden[:, 0] = hidden[:, -1] = False
    batch["mlm_input_ids"] = ids.masked_fill(hidden, model.text_encoder.mask_token_id or 0)
    batch["mlm_labels"] = ids.masked_fill(~hidden, -100)
    return {k: v.to(device) for k, v in batch.items()}


def measure(name: str, batch_size: int | None, steps: int, device: torch.device) -> dict:
    cfg = load_recipe(name)
    layers = cfg.model_options.get("text_layers") or CLINICAL_BERT["num_hidden_layers"]
    tokens = int(cfg.text_encoder.get("max_length", 128))
    cfg.text_encoder = {"name": "tiny_bert", "pooling": cfg.text_encoder.get("pooling", "mean"),
                        "bert_config": {**CLINICAL_BERT, "num_hidden_layers": layers}}
    cfg.model_options.pop("text_layers", None)  # built with that many layers already
    bs = batch_size or cfg.data.batch_size
    model, objectives = build_pretraining(cfg)
    model, objectives = model.to(device).train(), objectives.to(device)
    trained = torch.nn.ModuleDict({"model": model, "objectives": objectives})
    opt = build_optimizer(trained, cfg.optim, 1000)["optimizer"]
    half = cfg.trainer.precision.startswith("16") and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=half)
    batch = synthetic_batch(model, bs, cfg.data.crop, tokens, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> tuple[dict, int | None]:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=half):
            out = model(batch)
            terms = compute_losses(objectives, out, batch)
            loss = terms.pop("loss")
        scaler.scale(loss).backward()
        for p in frozen_parameters(objectives, epoch=0):
            p.grad = None
        scaler.step(opt)
        scaler.update()
        regions = out["region_emb"].shape[1] if "region_emb" in out else None
        return {n: float(v.detach()) for n, v in terms.items()}, regions

    terms, regions = step()  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        terms, regions = step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - t0) / steps
    result = {"batch_size": bs, "crop": cfg.data.crop, "tokens": tokens, "text_layers": layers,
              "precision": cfg.trainer.precision if device.type == "cuda" else "32-true",
              "regions": regions,
              "step_s": round(seconds, 4), "studies_per_s": round(bs / seconds, 1),
              "loss_terms": {k: round(v, 4) for k, v in terms.items()}}
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    p.add_argument("--batch-size", type=int, default=None, help="default: each recipe's own")
    p.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    report = {"benchmark": "recipes_paper_scale_step",
              "machine": {"device": name, "torch": torch.__version__, "python": platform.python_version()},
              "recipes": {name: measure(name, args.batch_size, args.steps, device) for name in args.recipes}}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
