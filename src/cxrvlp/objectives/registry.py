"""Objectives by name: a recipe lists ``{name, weight, inputs, **kwargs}`` and gets a module over the model output.

``inputs`` names the entries the loss takes, in order, looked up in the model's output dict and then in the batch
(targets built in the data pipeline, :mod:`cxrvlp.data.targets`), so one loss class serves several places (e.g.
InfoNCE on frontal, lateral or fused embeddings) and a loss can read labels or masks drawn for the batch.

An objective whose constructor takes ``dim`` gets the width of the model output it reads first
(``model.output_dims()``): the value that must agree with the projection is derived, not repeated in the recipe.

Each registration carries an ``example``: a function ``example(batch_size, generator) -> (inputs, kwargs)`` that
makes a small valid input (batch first along dim 0) and constructor options; the generic tests in
``tests/test_objectives_registry.py`` run every registered objective from it (finite, differentiable, equal on
one and two processes).
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import nn

Example = Callable[[int, torch.Generator], tuple[dict[str, torch.Tensor], dict]]


class _Entry:
    def __init__(self, builder: Callable[..., nn.Module], inputs: tuple[str, ...], example: Example | None):
        self.builder, self.inputs, self.example = builder, tuple(inputs), example

    def takes_dim(self) -> bool:
        try:
            return "dim" in inspect.signature(self.builder).parameters
        except (TypeError, ValueError):
            return False


_REGISTRY: dict[str, _Entry] = {}


def register_objective(name: str, default_inputs: tuple[str, ...], example: Example | None = None):
    """``register_objective("infonce", ("image_emb", "text_emb"), example=...)(InfoNCELoss)``, or as a decorator."""

    def deco(builder: Callable[..., nn.Module]):
        if name in _REGISTRY:
            raise KeyError(f"objective {name!r} registered twice")
        _REGISTRY[name] = _Entry(builder, default_inputs, example)
        return builder

    return deco


def unregister_objective(name: str) -> None:
    """Remove a registration (tests that register a throw-away objective clean up with this)."""
    _REGISTRY.pop(name, None)


def list_objectives() -> list[str]:
    return sorted(_REGISTRY)


def objective_entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise KeyError(f"unknown objective {name!r}; known: {list_objectives()}")
    return _REGISTRY[name]


class BoundObjective(nn.Module):
    """A loss module plus the keys it reads and its weight in the total."""

    def __init__(self, name: str, loss: nn.Module, inputs: tuple[str, ...], weight: float):
        super().__init__()
        self.name, self.loss, self.inputs, self.weight = name, loss, tuple(inputs), float(weight)

    def forward(self, out: dict, batch: dict | None = None) -> torch.Tensor:
        batch = batch or {}
        missing = [k for k in self.inputs if k not in out and k not in batch]
        if missing:
            raise KeyError(f"objective {self.name!r} needs {missing}: neither the model outputs {sorted(out)} nor "
                           f"the batch {sorted(batch)} have them (a batch target goes in the recipe's data.targets)")
        return self.loss(*(out[k] if k in out else batch[k] for k in self.inputs))


def _parse(term: str, spec: dict) -> tuple[str, float, bool, tuple[str, ...], dict]:
    spec = dict(spec)
    if "name" not in spec:
        raise KeyError(f"objective term {term!r}: no 'name' (one of {list_objectives()})")
    name = spec.pop("name")
    entry = objective_entry(name)
    weight, enabled = spec.pop("weight", 1.0), spec.pop("enabled", True)
    inputs = tuple(spec.pop("inputs", entry.inputs))
    return name, float(weight), bool(enabled) and weight != 0, inputs, spec


def enabled_inputs(specs: dict[str, dict]) -> frozenset[str]:
    """Every key the enabled terms of ``specs`` read."""
    keys: set[str] = set()
    for term, spec in specs.items():
        _, _, enabled, inputs, _ = _parse(term, spec)
        if enabled:
            keys.update(inputs)
    return frozenset(keys)


def build_objectives(specs: dict[str, dict], dims: dict[str, int] | None = None) -> nn.ModuleDict:
    """``specs`` maps a term name (used in logs, e.g. ``itc``) to ``{name, weight=1, inputs=..., enabled=True, **kw}``.

    Terms with ``enabled: false`` or ``weight: 0`` are left out (ablation by config). ``dims``: the model's
    output widths (``model.output_dims()``), from which an objective taking ``dim`` gets its width.
    """
    built = nn.ModuleDict()
    for term, spec in specs.items():
        name, weight, enabled, inputs, kwargs = _parse(term, spec)
        if not enabled:
            continue
        entry = objective_entry(name)
        if entry.takes_dim() and dims is not None and inputs and inputs[0] in dims:
            width = dims[inputs[0]]
            if kwargs.setdefault("dim", width) != width:
                raise ValueError(f"objective term {term!r}: dim {kwargs['dim']} disagrees with the width {width} of "
                                 f"{inputs[0]!r}; leave 'dim' out of the recipe (it is derived)")
        built[term] = BoundObjective(name, entry.builder(**kwargs), inputs, weight)
    if not built:
        raise ValueError("the recipe enables no objective; at least one term needs a non-zero weight")
    return built


def compute_losses(objectives: nn.ModuleDict, out: dict, batch: dict | None = None) -> dict[str, torch.Tensor]:
    """Every term's value (unweighted) plus ``loss``, the weighted sum."""
    terms = {name: objective(out, batch) for name, objective in objectives.items()}
    terms["loss"] = sum(objectives[name].weight * value for name, value in terms.items())
    return terms


def frozen_parameters(objectives: nn.ModuleDict, epoch: int) -> list[nn.Parameter]:
    """Parameters that objectives keep fixed in ``epoch`` (MGCA's prototypes in the first one): drop their grads."""
    params = []
    for objective in objectives.values():
        frozen = getattr(objective.loss, "frozen_parameters", None)
        params += list(frozen(epoch)) if frozen is not None else []
    return params
