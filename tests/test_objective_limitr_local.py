"""LIMITR local loss against loops over pairs, words and regions (numpy, float64), with absent lateral regions."""
import numpy as np
import pytest
import torch

from cxrvlp.objectives import LimitrLocalLoss, build_objectives
from ddp_helpers import run_in_processes


def _softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def _unit(x):
    return x / np.linalg.norm(x)


def _params(loss_fn):
    f = loss_fn.filtration
    g = {k: v.detach().double().numpy() for k, v in {
        "Wl": f.local[0].weight, "bl": f.local[0].bias, "Wg": f.pooled[0].weight, "bg": f.pooled[0].bias,
        "Wc": f.common.weight, "bc": f.common.bias, "Ut": loss_fn.word_head.weight, "ct": loss_fn.word_head.bias,
        "Uv": loss_fn.region_head.weight, "cv": loss_fn.region_head.bias}.items()}
    return g


def _saf(sims, p):
    mean = sum(sims) / len(sims)
    pooled = np.tanh(p["Wg"] @ mean + p["bg"])
    logits = np.array([(p["Wc"] @ (np.tanh(p["Wl"] @ s + p["bl"]) * pooled) + p["bc"])[0] for s in sims])
    alpha = _softmax(logits)
    return _unit(sum(a * s for a, s in zip(alpha, sims)))


def _attend(queries, contexts, g1=4.0):
    """GLoRIA attention: for each context token, softmax over the queries; then per query softmax over contexts."""
    over_queries = np.array([_softmax(np.array([q @ c for q in queries])) for c in contexts])  # [C, Q]
    out = []
    for qi in range(len(queries)):
        a = _softmax(g1 * over_queries[:, qi])
        out.append(sum(a[ci] * contexts[ci] for ci in range(len(contexts))))
    return out


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reference(word_list, region_list, p, g3=10.0):
    b = len(word_list)
    zt, zv = np.zeros((b, b)), np.zeros((b, b))
    for i, words in enumerate(word_list):
        for j, regions in enumerate(region_list):
            word_ctx = _attend(words, regions)
            sims = [_unit(c * w) for c, w in zip(word_ctx, words)]
            zt[i, j] = _sigmoid(p["Ut"] @ _saf(sims, p) + p["ct"])[0]
            region_ctx = _attend(regions, words)
            sims = [_unit(c * r) for c, r in zip(region_ctx, regions)]
            zv[i, j] = _sigmoid(p["Uv"] @ _saf(sims, p) + p["cv"])[0]

    def ce_both(z):
        s = g3 * z
        t2i = np.mean([-np.log(_softmax(s[i, :])[i]) for i in range(b)])
        i2t = np.mean([-np.log(_softmax(s[:, j])[j]) for j in range(b)])
        return t2i + i2t

    return 0.5 * (ce_both(zt) + ce_both(zv))


def _batch(rng, word_counts, n_view, has_lateral, dim):
    words = np.full((len(word_counts), max(word_counts) + 1, dim), 3.0)
    word_mask = np.zeros(words.shape[:2], dtype=bool)
    regions = rng.normal(size=(len(word_counts), 2 * n_view, dim))
    region_mask = np.ones(regions.shape[:2], dtype=bool)
    word_list, region_list = [], []
    for i, n in enumerate(word_counts):
        words[i, :n] = rng.normal(size=(n, dim))
        word_mask[i, :n] = True
        word_list.append(words[i, :n])
        if not has_lateral[i]:
            regions[i, n_view:] = -5.0  # garbage where the lateral would be
            region_mask[i, n_view:] = False
        region_list.append(regions[i][region_mask[i]])
    t = lambda a: torch.tensor(a)  # noqa: E731
    return (t(regions), t(region_mask), t(words), t(word_mask)), word_list, region_list


def test_matches_loops_with_missing_laterals_and_padding():
    rng = np.random.default_rng(0)
    dim = 8
    inputs, word_list, region_list = _batch(rng, (3, 5, 2), 4, (True, False, True), dim)
    loss_fn = LimitrLocalLoss(dim).double().eval()  # eval: SAF dropout off
    loss = loss_fn(*inputs)
    assert loss.item() == pytest.approx(_reference(word_list, region_list, _params(loss_fn)), rel=1e-9)


def test_gradients_reach_saf_and_skip_masked_tokens():
    rng = np.random.default_rng(1)
    (regions, region_mask, words, word_mask), _, _ = _batch(rng, (2, 4), 3, (False, True), 6)
    regions.requires_grad_(True)
    words.requires_grad_(True)
    loss_fn = LimitrLocalLoss(6).double()
    loss_fn(regions, region_mask, words, word_mask).backward()
    assert regions.grad[~region_mask].abs().max() == 0 and words.grad[~word_mask].abs().max() == 0
    assert regions.grad[region_mask].abs().sum() > 0
    assert loss_fn.filtration.common.weight.grad.abs().sum() > 0 and loss_fn.word_head.weight.grad.abs().sum() > 0


def test_registered_and_bad_args():
    objectives = build_objectives({"local": {"name": "limitr_local", "dim": 3}})
    out = {"region_emb": torch.randn(2, 4, 3), "region_mask": torch.ones(2, 4, dtype=torch.bool),
           "word_emb": torch.randn(2, 3, 3), "word_mask": torch.ones(2, 3, dtype=torch.bool)}
    assert torch.isfinite(objectives["local"](out))
    with pytest.raises(ValueError):
        LimitrLocalLoss(3, dropout=1.0)


def _worker(rank, world, state, regions, region_mask, words, word_mask):
    loss_fn = LimitrLocalLoss(words.shape[-1]).double().eval()
    loss_fn.load_state_dict(state)
    b = words.shape[0] // world
    sl = slice(rank * b, (rank + 1) * b)
    r = regions[sl].clone().requires_grad_(True)
    loss = loss_fn(r, region_mask[sl], words[sl], word_mask[sl])
    (loss / world).backward()
    return loss.item(), r.grad


def test_two_processes_equal_one():
    rng = np.random.default_rng(2)
    (regions, region_mask, words, word_mask), _, _ = _batch(rng, (2, 4, 3, 1), 3, (True, False, False, True), 4)
    loss_fn = LimitrLocalLoss(4).double().eval()
    ref_r = regions.clone().requires_grad_(True)
    ref = loss_fn(ref_r, region_mask, words, word_mask)
    ref.backward()
    results = run_in_processes(_worker, 2, loss_fn.state_dict(), regions, region_mask, words, word_mask)
    assert sum(r[0] for r in results) / 2 == pytest.approx(ref.item(), rel=1e-9)
    torch.testing.assert_close(torch.cat([r[1] for r in results]), ref_r.grad)
