"""Objectives by name: a recipe lists ``{name, weight, inputs, **kwargs}`` and gets a module over the model output.

``inputs`` names the entries of the model's output dict that the loss takes, in order, so one loss class serves
several places (e.g. InfoNCE on frontal, lateral or fused embeddings).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from cxrvlp.objectives.frontal_lateral import FrontalLateralAlignmentLoss
from cxrvlp.objectives.gloria import GloriaLocalLoss
from cxrvlp.objectives.high_order import HighOrderAlignmentLoss
from cxrvlp.objectives.infonce import InfoNCELoss
from cxrvlp.objectives.limitr import LimitrLocalLoss
from cxrvlp.objectives.masked_lm import MaskedLMLoss
from cxrvlp.objectives.multiview_itc import MaskedInfoNCELoss, MultiViewITCLoss
from cxrvlp.objectives.prototype_alignment import PrototypeAlignmentLoss
from cxrvlp.objectives.token_alignment import TokenAlignmentLoss

_REGISTRY: dict[str, tuple[Callable[..., nn.Module], tuple[str, ...]]] = {}


def register_objective(name: str, default_inputs: tuple[str, ...]):
    def deco(builder: Callable[..., nn.Module]):
        if name in _REGISTRY:
            raise KeyError(f"objective {name!r} registered twice")
        _REGISTRY[name] = (builder, default_inputs)
        return builder
    return deco


def list_objectives() -> list[str]:
    return sorted(_REGISTRY)


class BoundObjective(nn.Module):
    """A loss module plus the output-dict keys it reads and its weight in the total."""

    def __init__(self, name: str, loss: nn.Module, inputs: tuple[str, ...], weight: float):
        super().__init__()
        self.name, self.loss, self.inputs, self.weight = name, loss, tuple(inputs), float(weight)

    def forward(self, out: dict) -> torch.Tensor:
        missing = [k for k in self.inputs if k not in out]
        if missing:
            raise KeyError(f"objective {self.name!r} needs model outputs {missing}; the model gave {sorted(out)}")
        return self.loss(*(out[k] for k in self.inputs))


def build_objectives(specs: dict[str, dict]) -> nn.ModuleDict:
    """``specs`` maps a term name (used in logs, e.g. ``itc``) to ``{name, weight=1, inputs=..., enabled=True, **kw}``.

    Terms with ``enabled: false`` or ``weight: 0`` are left out (ablation by config).
    """
    built = nn.ModuleDict()
    for term, spec in specs.items():
        spec = dict(spec)
        name = spec.pop("name")
        weight = spec.pop("weight", 1.0)
        enabled = spec.pop("enabled", True)
        if name not in _REGISTRY:
            raise KeyError(f"objective term {term!r}: unknown objective {name!r}; known: {list_objectives()}")
        builder, default_inputs = _REGISTRY[name]
        inputs = tuple(spec.pop("inputs", default_inputs))
        if not enabled or weight == 0:
            continue
        built[term] = BoundObjective(name, builder(**spec), inputs, weight)
    if not built:
        raise ValueError("the recipe enables no objective; at least one term needs a non-zero weight")
    return built


register_objective("infonce", ("image_emb", "text_emb"))(InfoNCELoss)
register_objective("gloria_local", ("region_emb", "region_mask", "word_emb", "word_mask"))(GloriaLocalLoss)
register_objective("token_alignment", ("region_emb", "region_mask", "region_attn", "word_emb", "word_mask",
                                       "word_attn"))(TokenAlignmentLoss)
register_objective("prototype_alignment", ("image_emb", "text_emb"))(PrototypeAlignmentLoss)
register_objective("limitr_local", ("region_emb", "region_mask", "word_emb", "word_mask"))(LimitrLocalLoss)
# F-L
register_objective("masked_infonce", ("lateral_emb", "text_emb", "lateral_mask"))(MaskedInfoNCELoss)
register_objective("multiview_itc", ("image_emb", "lateral_emb", "lateral_mask", "fused_emb",
                                     "text_emb"))(MultiViewITCLoss)
register_objective("masked_lm", ("mlm_logits", "mlm_targets"))(MaskedLMLoss)
register_objective("frontal_lateral_alignment", ("fla_frontal", "fla_lateral", "fla_mask"))(FrontalLateralAlignmentLoss)
register_objective("high_order_alignment", ("image_emb", "lateral_emb", "lateral_mask",
                                            "text_emb"))(HighOrderAlignmentLoss)
