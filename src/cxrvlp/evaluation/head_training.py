"""Training a downstream head, on cached frozen features or end to end through the encoder (fine-tuning).

Both run the same loop: a :class:`FeatureSource` hands out the inputs of a batch of training items, the task
gives the loss. AdamW with warm-up + cosine (``cxrvlp.optim``); the encoder, when trained, runs at
``ENCODER_LR_MULT`` of the head's learning rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from rich.progress import track
from torch import nn

from cxrvlp.evaluation.features import pyramid
from cxrvlp.optim import build_optimizer
from cxrvlp.recipe import OptimConfig

ENCODER_LR_MULT = 0.1


@dataclass
class FeatureSource:
    """``frozen``: ``inputs`` are cached features (a tensor, or a list of pyramid maps), indexed per item.
    Fine-tuning: ``inputs`` are preprocessed images and ``encoder`` runs on them every step (``kind`` picks the
    output: ``global`` vectors or the ``pyramid``)."""

    inputs: torch.Tensor | list[torch.Tensor]
    kind: str
    encoder: nn.Module | None = None

    @property
    def finetune(self) -> bool:
        return self.encoder is not None

    def __call__(self, idx: torch.Tensor):
        if self.encoder is None:
            if isinstance(self.inputs, list):
                return [m[idx].float() for m in self.inputs]
            return self.inputs[idx].float()
        images = self.inputs[idx].float()
        if self.kind == "global":
            return self.encoder(images).global_features
        return pyramid(self.encoder, images)


def training_steps(n_items: int, batch_size: int, epochs: int, min_steps: int, max_steps: int) -> int:
    """``epochs · ⌈n / batch⌉`` clipped to ``[min_steps, max_steps]``, so 1 % of a small set still trains."""
    return int(min(max_steps, max(min_steps, epochs * math.ceil(n_items / batch_size))))


def train(head: nn.Module, source: FeatureSource, n_items: int, loss_of: Callable, steps: int, batch_size: int,
          lr: float, weight_decay: float = 1e-4, seed: int = 0, progress: bool = True,
          description: str = "training") -> list[float]:
    """Minimise ``loss_of(head, source(idx), idx)`` over epochs of shuffled batches; returns the loss per step."""
    torch.manual_seed(seed)
    modules = nn.ModuleDict({"head": head})
    if source.finetune:
        modules["encoder"] = source.encoder
    cfg = OptimConfig(lr=lr, weight_decay=weight_decay, warmup_fraction=0.05, lr_mult={"encoder": ENCODER_LR_MULT})
    opt_sched = build_optimizer(modules, cfg, steps)
    opt, sched = opt_sched["optimizer"], opt_sched["lr_scheduler"]["scheduler"]
    g = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, n_items)
    order, pos, losses = torch.randperm(n_items, generator=g), 0, []
    modules.train()
    for _ in track(range(steps), description=description, disable=not progress):
        if pos + batch_size > n_items:
            order, pos = torch.randperm(n_items, generator=g), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        loss = loss_of(head, source(idx), idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    modules.eval()
    return losses


@torch.no_grad()
def predict(head: nn.Module, source: FeatureSource, n_items: int, batch_size: int = 32) -> list:
    """``head(source(batch))`` over all items in order, batch by batch (outputs in a list)."""
    head.eval()
    if source.encoder is not None:
        source.encoder.eval()
    return [head(source(torch.arange(i, min(i + batch_size, n_items)))) for i in range(0, n_items, batch_size)]
