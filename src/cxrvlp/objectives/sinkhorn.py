"""Sinkhorn-Knopp soft assignment of samples to prototypes (SwAV), distributed over processes.

Used by MGCA's cross-modal prototype alignment and by F-L's high-order alignment.
"""
from __future__ import annotations

import torch

from cxrvlp import distributed


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    r"""Equipartitioned codes ``[B, K]`` for prototype scores ``[B, K]`` (rows sum to 1).

    Starting from :math:`Q = \exp(S^\top / \varepsilon)` (``K x B_{total}``), alternately rescale the rows to sum
    to :math:`1/K` (each prototype gets an equal share of the global batch) and the columns to :math:`1/B_{total}`,
    ``iterations`` times; the codes are the columns rescaled to sum to 1 (Caron et al., NeurIPS 2020, Alg. 1).

    In a multi-process run the row sums (and the global maximum used for numerical range) are all-reduced, so each
    process gets exactly its rows of the codes of the concatenated batch. No gradient flows through the codes.
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    logits = scores.float() / epsilon
    # any constant shift cancels in the first row rescaling; the global maximum keeps exp() in range
    shift = distributed.gather_with_grad(logits.max().reshape(1)).max()
    q = torch.exp(logits - shift).T  # [K, B]
    num_prototypes = q.shape[0]
    total_batch = q.shape[1] * distributed.world_size()
    q = q / distributed.all_reduce_sum(q.sum())
    for _ in range(iterations):
        q = q / (num_prototypes * distributed.all_reduce_sum(q.sum(dim=1, keepdim=True)))
        q = q / (total_batch * q.sum(dim=0, keepdim=True))
    return (q / q.sum(dim=0, keepdim=True)).T.to(scores.dtype)
