"""AdamW with per-group learning-rate multipliers and a linear warm-up followed by cosine decay."""
from __future__ import annotations

import math

import torch
from torch import nn

from cxrvlp.recipe import OptimConfig


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Group trainable parameters by lr multiplier (first matching name substring wins) and weight decay
    (none for biases and norm weights, as is standard for AdamW)."""
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mult = next((m for key, m in cfg.lr_mult.items() if key in name), 1.0)
        decay = p.ndim > 1 and "log_scale" not in name
        groups.setdefault((mult, decay), []).append(p)
    return [{"params": ps, "lr": cfg.lr * mult, "weight_decay": cfg.weight_decay if decay else 0.0}
            for (mult, decay), ps in groups.items()]


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the base lr at ``step``: linear from 0 to 1 over ``warmup`` steps, then cosine to ``min_ratio``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, cfg: OptimConfig, total_steps: int):
    opt = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, betas=tuple(cfg.betas))
    warmup = int(round(cfg.warmup_fraction * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total_steps, warmup, cfg.min_lr_ratio))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
