"""Label fractions of a training split (MGCA's 1 % / 10 % / 100 %), drawn with a fixed seed, stratified.

Each training item gets a stratum: its rarest positive label, or ``"negative"`` when it has none (single-label and
multi-label alike; a multi-class target is one-hot). From each stratum ``max(1, round(fraction · size))`` items are
drawn, so every label that has positives keeps at least one, and 1 % of a small set is never empty. The drawn
study ids are written next to the results so a row can be reproduced exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def strata(labels: np.ndarray) -> np.ndarray:
    """``[N, L]`` labels (1 positive; 0, -1, NaN otherwise) → ``[N]`` stratum index (L = negative / none)."""
    pos = labels == 1
    prevalence = pos.sum(axis=0)
    rank = np.where(pos, prevalence[None, :], np.inf)  # rarest positive label of each row
    out = np.argmin(rank, axis=1)
    out[~pos.any(axis=1)] = labels.shape[1]
    return out


def sample_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a stratified ``fraction`` of the rows of ``labels [N, L]``; all rows when it is 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    n = labels.shape[0]
    if fraction == 1.0:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    s = strata(labels)
    picked = []
    for k in np.unique(s):
        members = np.flatnonzero(s == k)
        take = max(1, round(fraction * len(members)))
        picked.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(picked))


def fraction_name(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def write_fraction_ids(path: str | Path, subsets: dict[str, list[str]]) -> Path:
    """``{"1%/seed0": [study ids], ...}`` as JSON (the protocol's label-fraction ids)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(subsets, indent=1))
    return path
