"""Batch targets: what a loss needs besides the model's outputs (masked words, label similarity...), built in the
collate, inside the loader workers, from each item's seed.

A recipe names them, ``data.targets: [pathology_masking, {name: ..., option: value}]``; each builder adds its keys
to the batch, and objectives (or the model) read them by key. The randomness of a target comes only from
``numpy.random.default_rng([item seed, crc32(target name)])``, where the item seed is the
:class:`~cxrvlp.data.sampler.SeededSampler`'s draw for (seed, epoch, index): a resumed run, any number of workers
and any number of processes draw the same targets for the same item.

Adding a target: a class with ``keys`` (what it adds), ``needs_offsets`` (whether it needs the tokenizer's word ids
and character offsets) and ``__call__(batch, encoding, rngs) -> dict``, registered with ``@register_target(name)``;
it is constructed as ``cls(context, **options)``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

_TARGETS: dict[str, Callable[..., Any]] = {}


@dataclass
class TargetContext:
    """What a target builder may need from the recipe: the text tokenizer (a transformers fast tokenizer), the
    label names of the data set and the image encoder's patch grid ``(h, w)`` at the training crop size."""

    tokenizer: Any = None
    label_names: Sequence[str] = ()
    image_grid: tuple[int, int] | None = None


def register_target(name: str):
    def deco(cls):
        if name in _TARGETS:
            raise KeyError(f"batch target {name!r} registered twice")
        _TARGETS[name] = cls
        return cls

    return deco


def list_targets() -> list[str]:
    return sorted(_TARGETS)


def build_targets(specs: Sequence, context: TargetContext) -> list:
    """Builders for ``data.targets`` entries (a name, or a mapping with ``name`` and the builder's options)."""
    built = []
    for spec in specs:
        spec = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = spec.pop("name", None)
        if name not in _TARGETS:
            raise KeyError(f"data.targets: unknown batch target {name!r}; known: {list_targets()}")
        try:
            builder = _TARGETS[name](context, **spec)
        except TypeError as e:
            raise KeyError(f"data.targets: {name!r}: {e}") from e
        builder.name = name
        built.append(builder)
    return built


def apply_targets(targets: Sequence, batch: dict, encoding: dict, seeds: Sequence[int]) -> dict:
    """``batch`` updated with the keys of each target, drawn from the items' ``seeds`` (what the collate does)."""
    for target in targets:
        batch.update(target(batch, encoding, item_rngs(seeds, target.name)))
    return batch


def item_rngs(seeds: Sequence[int], name: str) -> list[np.random.Generator]:
    """One generator per item for target ``name``."""
    salt = zlib.crc32(name.encode())
    return [np.random.default_rng([int(s), salt]) for s in seeds]


from cxrvlp.data.targets import findings, masked_words, paired_masking, report_graph  # noqa: E402,F401  (registers)
