"""Models by name: a recipe's ``model`` names a registered ``nn.Module`` class and ``model_options`` fills its typed
``Options`` dataclass (unknown keys are errors, defaults live in the dataclass).

A model maps a batch to the output dict that objectives read by key; it holds no loss and no training loop
(:mod:`cxrvlp.training.task` does). ``build_model(config, outputs)`` tells the model which outputs the recipe's
objectives read, so branches nobody reads are not built (F-L without its MLM term has no MLM decoder).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields

from torch import nn

from cxrvlp.recipe import RecipeConfig, from_dict

MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str):
    """Class decorator: ``@register_model("fl")``. The class takes ``(cfg: RecipeConfig, outputs: frozenset)`` and
    declares its options as a dataclass ``Options``."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS:
            raise KeyError(f"model {name!r} registered twice")
        if not hasattr(cls, "Options"):
            raise TypeError(f"model {name!r}: {cls.__name__} declares no Options dataclass")
        MODELS[name] = cls
        return cls

    return deco


def parse_options(options_cls, cfg: RecipeConfig):
    """``cfg.model_options`` as the model's ``Options`` dataclass; an unknown key is an error naming the allowed
    ones."""
    known = {f.name for f in fields(options_cls)}
    unknown = set(cfg.model_options) - known
    if unknown:
        raise KeyError(f"model {cfg.model!r}: unknown model_options {sorted(unknown)}; allowed: {sorted(known)}")
    return options_cls(**cfg.model_options)


def list_models() -> list[str]:
    return sorted(MODELS)


def objective_inputs(objectives: dict) -> frozenset[str]:
    """The model outputs (and batch targets) that the enabled terms of a recipe's ``objectives`` section read."""
    from cxrvlp.objectives.registry import enabled_inputs

    return enabled_inputs(objectives)


def build_model(config: dict | RecipeConfig, outputs: Iterable[str] | None = None) -> nn.Module:
    """Build the recipe's model. ``outputs``: the keys its objectives read (default: from the recipe)."""
    cfg = config if isinstance(config, RecipeConfig) else from_dict(config)
    if cfg.model not in MODELS:
        raise KeyError(f"unknown model {cfg.model!r}; known: {list_models()}")
    needed = frozenset(outputs) if outputs is not None else objective_inputs(cfg.objectives)
    return MODELS[cfg.model](cfg, needed)
