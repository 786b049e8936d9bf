"""Zero-shot and retrieval metrics on precomputed, L2-normalised embeddings."""
from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve


def zero_shot_scores(image_emb: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` images, ``[P, D]`` / ``[Q, D]`` prompt embeddings → ``[N]`` mean-positive minus mean-negative
    cosine."""
    return (image_emb @ positive.T).mean(dim=1) - (image_emb @ negative.T).mean(dim=1)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUROC over entries with a 0/1 label (NaN and uncertain -1 entries are left out); NaN if one class is absent."""
    keep = (labels == 0) | (labels == 1)
    y, s = labels[keep], scores[keep]
    if y.size == 0 or y.min() == y.max():
        return math.nan
    return float(roc_auc_score(y, s))


def roc_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = (labels == 0) | (labels == 1)
    fpr, tpr, _ = roc_curve(labels[keep], scores[keep])
    return fpr, tpr


def recall_at_k(query: torch.Tensor, gallery: torch.Tensor, ks=(1, 5, 10), pool_size: int = 0,
                seed: int = 0) -> dict[int, float]:
    """Recall@K where query i's match is gallery i (same study).

    With ``pool_size`` > 0 the items are shuffled with ``seed`` and split into disjoint pools of that size (the
    last, smaller remainder is dropped), retrieval runs inside each pool and recalls are averaged over queries —
    the protocol LIMITR reports with pools of 1,000. ``pool_size = 0`` uses everything as one pool.
    """
    n = query.shape[0]
    if gallery.shape[0] != n:
        raise ValueError(f"query ({n}) and gallery ({gallery.shape[0]}) must be paired one to one")
    if pool_size and pool_size > n:
        raise ValueError(f"pool size {pool_size} is larger than the {n} items available")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if pool_size else torch.arange(n)
    size = pool_size or n
    hits = {k: 0 for k in ks}
    counted = 0
    for start in range(0, n - size + 1, size):
        idx = order[start : start + size]
        sim = query[idx] @ gallery[idx].T
        # rank of the true match = number of gallery items scoring strictly higher
        rank = (sim > sim.diagonal()[:, None]).sum(dim=1)
        for k in ks:
            hits[k] += int((rank < k).sum())
        counted += size
    return {k: hits[k] / counted for k in ks}
