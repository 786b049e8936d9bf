"""Label-aware image→report retrieval (evaluation/metrics.py): a hit is any report with the query's finding set;
checked against a hand-computed 4 × 4 example, and on the same pools as the exact-pair R@k."""
import math

import numpy as np
import pytest
import torch

from cxrvlp.evaluation import metrics

# similarity of image i (row) to report j (column); with one-hot queries, gallery = S^T gives query @ gallery.T = S
S = torch.tensor([[0.9, 0.1, 0.5, 0.2],
                  [0.8, 0.3, 0.1, 0.0],
                  [0.2, 0.1, 0.3, 0.6],
                  [0.0, 0.1, 0.2, 0.7]])
NAN = math.nan
# finding sets: {A}, {A}, {} (B uncertain: not positive; A not mentioned), {B}
LABELS = np.array([[1.0, NAN], [1.0, 0.0], [NAN, -1.0], [0.0, 1.0]])


def test_finding_sets_count_only_positive_labels():
    assert metrics.finding_sets(LABELS).tolist() == [[True, False], [True, False], [False, False], [False, True]]


def test_hand_computed_example():
    # rankings and relevance (same finding set as the query):
    #   q0 {A}: 0 2 3 1 -> 1 0 0 1   P@1 1, P@4 2/4, AP (1/1 + 2/4) / 2 = 0.75
    #   q1 {A}: 0 1 2 3 -> 1 1 0 0   P@1 1, P@4 2/4, AP (1 + 1) / 2 = 1      (its own report ranks second)
    #   q2 {}:  3 2 0 1 -> 0 1 0 0   P@1 0, P@4 1/4, AP (1/2) / 1 = 0.5
    #   q3 {B}: 3 2 1 0 -> 1 0 0 0   P@1 1, P@4 1/4, AP 1
    out = metrics.label_aware_retrieval(torch.eye(4), S.T.contiguous(), LABELS, ks=(1, 5, 10))
    assert out["precision"][1] == pytest.approx(3 / 4)
    assert out["precision"][5] == pytest.approx((0.5 + 0.5 + 0.25 + 0.25) / 4)  # a pool of 4 is read whole
    assert out["precision"][10] == out["precision"][5]
    assert out["map"] == pytest.approx((0.75 + 1.0 + 0.5 + 1.0) / 4)
    assert out["chance"] == pytest.approx((2 / 4 + 2 / 4 + 1 / 4 + 1 / 4) / 4)
    # the exact-pair metric misses q1's twin report: R@1 = 2 / 4
    assert metrics.recall_at_k(torch.eye(4), S.T.contiguous(), ks=(1,))[1] == 0.5


def test_distinct_finding_sets_reduce_to_the_exact_pair_metric_on_the_same_pools():
    g = torch.Generator().manual_seed(0)
    q, r = torch.randn(12, 8, generator=g), torch.randn(12, 8, generator=g)
    distinct = np.eye(12)  # every study its own finding set: the only hit is the paired report
    for pool in (0, 4):
        la = metrics.label_aware_retrieval(q, r, distinct, ks=(1,), pool_size=pool, seed=3)
        assert la["precision"][1] == pytest.approx(metrics.recall_at_k(q, r, ks=(1,), pool_size=pool, seed=3)[1])
        assert la["chance"] == pytest.approx(1 / (pool or 12))
    same = np.ones((12, 2))  # every report a hit
    la = metrics.label_aware_retrieval(q, r, same, pool_size=4, seed=3)
    assert la["map"] == 1.0 and all(v == 1.0 for v in la["precision"].values())
    with pytest.raises(ValueError):
        metrics.label_aware_retrieval(q, r, same[:5])
