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


def retrieval_pools(n: int, pool_size: int = 0, seed: int = 0) -> list[torch.Tensor]:
    """The item indices of each retrieval pool: with ``pool_size`` > 0 the ``n`` items are shuffled with ``seed``
    and split into disjoint pools of that size (the last, smaller remainder is dropped); ``pool_size = 0`` is one
    pool of everything. :func:`recall_at_k` and :func:`label_aware_retrieval` share these pools."""
    if pool_size and pool_size > n:
        raise ValueError(f"pool size {pool_size} is larger than the {n} items available")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if pool_size else torch.arange(n)
    size = pool_size or n
    return [order[start : start + size] for start in range(0, n - size + 1, size)]


def recall_at_k(query: torch.Tensor, gallery: torch.Tensor, ks=(1, 5, 10), pool_size: int = 0,
                seed: int = 0) -> dict[int, float]:
    """Recall@K where query i's match is gallery i (same study).

    With ``pool_size`` > 0 the items are shuffled with ``seed`` and split into disjoint pools of that size (the
    last, smaller remainder is dropped), retrieval runs inside each pool and recalls are averaged over queries —
    the protocol LIMITR reports with pools of 1,000. ``pool_size = 0`` uses everything as one pool
    (:func:`retrieval_pools`).
    """
    n = query.shape[0]
    if gallery.shape[0] != n:
        raise ValueError(f"query ({n}) and gallery ({gallery.shape[0]}) must be paired one to one")
    hits = {k: 0 for k in ks}
    counted = 0
    for idx in retrieval_pools(n, pool_size, seed):
        sim = query[idx] @ gallery[idx].T
        # rank of the true match = number of gallery items scoring strictly higher
        rank = (sim > sim.diagonal()[:, None]).sum(dim=1)
        for k in ks:
            hits[k] += int((rank < k).sum())
        counted += len(idx)
    return {k: hits[k] / counted for k in ks}


def finding_sets(labels: np.ndarray) -> np.ndarray:
    """``bool [N, L]``: each study's finding set, its positive labels (``labels == 1``). A label that is absent
    (NaN, not mentioned), negative (0) or uncertain (-1) counts as not positive, so a study with no positive label
    has the empty set (a normal study), which equals every other empty set."""
    return np.asarray(labels) == 1


def label_aware_retrieval(query: torch.Tensor, gallery: torch.Tensor, labels: np.ndarray, ks=(1, 5, 10),
                          pool_size: int = 0, seed: int = 0) -> dict:
    r"""Image→report retrieval where a hit is any report with the query's finding set (SISTA's claim: unpaired
    reports that say the same thing are not wrong answers). ``query [N, D]`` (images) and ``gallery [N, D]``
    (reports) are paired one to one, as for :func:`recall_at_k`, on the same pools (:func:`retrieval_pools`);
    ``labels [N, L]`` are the studies' labels and :func:`finding_sets` their finding sets :math:`F_i`.

    In a pool of :math:`n` items, query :math:`i` ranks the gallery by :math:`s_{ij} = q_i \cdot g_j`
    (descending; ties keep the gallery order), :math:`\mathrm{rel}_i(r) = [F_{\pi_i(r)} = F_i]` for the item at
    rank :math:`r` and :math:`R_i = \sum_j [F_j = F_i] \ge 1` (the paired report is always a hit). Then

    - precision@k :math:`= rac{1}{\min(k, n)} \sum_{r \le \min(k, n)} \mathrm{rel}_i(r)` (a pool smaller than
      k is read whole),
    - :math:`\mathrm{AP}_i = rac{1}{R_i} \sum_{r=1}^{n} \mathrm{rel}_i(r)\, \mathrm{precision@}r`, mAP its mean,
    - ``chance`` :math:`= rac{R_i}{n}` averaged: the expected precision@k (any k) and, approximately, AP of a
      random ranking,

    each averaged over the queries of all pools. Returns ``{"precision": {k: float}, "map": float,
    "chance": float}``.
    """
    n = query.shape[0]
    if gallery.shape[0] != n or len(labels) != n:
        raise ValueError(f"query ({n}), gallery ({gallery.shape[0]}) and labels ({len(labels)}) must be paired "
                         "one to one")
    sets = torch.from_numpy(finding_sets(labels).reshape(n, -1))
    precision = {k: 0.0 for k in ks}
    ap = chance = 0.0
    counted = 0
    for idx in retrieval_pools(n, pool_size, seed):
        size = len(idx)
        sim = query[idx] @ gallery[idx].T
        order = torch.sort(sim, dim=1, descending=True, stable=True).indices
        same = (sets[idx][:, None, :] == sets[idx][None, :, :]).all(dim=-1)  # [n, n]: F_i = F_j
        rel = torch.gather(same, 1, order).double()  # relevance at each rank
        cum = rel.cumsum(dim=1)
        for k in ks:
            kk = min(k, size)
            precision[k] += float((cum[:, kk - 1] / kk).sum())
        ranks = torch.arange(1, size + 1, dtype=torch.float64)
        relevant = same.sum(dim=1).double()
        ap += float(((rel * cum / ranks).sum(dim=1) / relevant).sum())
        chance += float((relevant / size).sum())
        counted += size
    return {"precision": {k: precision[k] / counted for k in ks}, "map": ap / counted, "chance": chance / counted}
