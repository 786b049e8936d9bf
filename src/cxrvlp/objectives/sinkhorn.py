"""Sinkhorn-Knopp soft assignment of samples to prototypes (SwAV), distributed over processes.

Used by MGCA's cross-modal prototype alignment and by F-L's high-order alignment.
"""
from __future__ import annotations

import math

import torch

from cxrvlp import distributed


def _global_row_logsumexp(log_q: torch.Tensor) -> torch.Tensor:
    """``[K, 1]``: the log of each row's sum of ``exp(log_q)`` over the columns of every process. Each row is
    shifted by its global maximum first, so the largest term is exp(0) = 1 and no row sum under- or overflows."""
    row_max = distributed.gather_with_grad(log_q.amax(dim=1).unsqueeze(0)).amax(dim=0).unsqueeze(1)
    return row_max + distributed.all_reduce_sum((log_q - row_max).exp().sum(dim=1, keepdim=True)).log()


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    r"""Equipartitioned codes ``[B, K]`` for prototype scores ``[B, K]`` (rows sum to 1).

    Starting from :math:`Q = \exp(S^\top / \varepsilon)` (``K x B_{total}``), alternately rescale the rows to sum
    to :math:`1/K` (each prototype gets an equal share of the global batch) and the columns to :math:`1/B_{total}`,
    ``iterations`` times; the codes are the columns rescaled to sum to 1 (Caron et al., NeurIPS 2020, Alg. 1).

    Computed in the log domain: :math:`\log Q` starts as :math:`S^\top/\varepsilon` and each rescaling subtracts a
    log-sum-exp (the first normalisation of :math:`Q` to unit sum in Alg. 1 cancels in the first row rescaling and
    is left out), so a small :math:`\varepsilon` (e.g. 1e-3, where :math:`e^{S/\varepsilon}` overflows even
    float64) gives finite codes; for ordinary :math:`\varepsilon` the codes equal Alg. 1's to float precision.

    In a multi-process run each row's log-sum-exp is taken over the columns of all processes (its maximum gathered,
    the sum of the shifted exponentials all-reduced), so each process gets exactly its rows of the codes of the
    concatenated batch; every process must hold the same number of samples. No gradient flows through the codes.
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    log_q = (scores.float() / epsilon).T  # [K, B]: log Q up to a constant
    num_prototypes = log_q.shape[0]
    total_batch = log_q.shape[1] * distributed.world_size()
    log_k, log_b = math.log(num_prototypes), math.log(total_batch)
    for _ in range(iterations):
        log_q = log_q - (log_k + _global_row_logsumexp(log_q))  # rows sum to 1/K over the global batch
        log_q = log_q - (log_b + log_q.logsumexp(dim=0, keepdim=True))  # columns sum to 1/B_total
    return log_q.softmax(dim=0).T.to(scores.dtype)
