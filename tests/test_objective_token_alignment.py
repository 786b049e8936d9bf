"""MGCA token alignment (CTA) against loops over the studies and tokens of a batch (numpy, float64)."""
import numpy as np
import pytest
import torch

from cxrvlp.objectives import TokenAlignmentLoss, build_objectives
from cxrvlp.objectives.token_alignment import clipped_weights


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax(v):
    return v - np.log(np.exp(v - v.max()).sum()) - v.max()


def _ref_weights(attn, n):
    if attn is None:
        return np.full(n, 1.0 / n)
    lo, hi = np.quantile(attn, 0.1), np.quantile(attn, 0.9)
    w = np.clip(attn, lo, hi)
    return w / w.sum()


def _ref_direction(tokens, others, attn, tau):
    n = len(tokens)
    ctx = []
    for i in range(n):
        logits = np.array([tokens[i] @ o / tau for o in others])
        a = np.exp(_log_softmax(logits))
        ctx.append(sum(a[j] * others[j] for j in range(len(others))))
    ctx = _unit(np.array(ctx))
    sim = np.array([[tokens[i] @ ctx[k] / tau for k in range(n)] for i in range(n)])
    w = _ref_weights(attn, n)
    return sum(w[i] * 0.5 * (-_log_softmax(sim[i, :])[i] - _log_softmax(sim[:, i])[i]) for i in range(n))


def _reference(words, regions, word_attn, region_attn, tau=0.1, bidirectional=True):
    total = 0.0
    for b in range(len(words)):
        w, r = _unit(words[b]), _unit(regions[b])
        total += _ref_direction(w, r, word_attn[b], tau)
        if bidirectional:
            total += _ref_direction(r, w, None if region_attn is None else region_attn[b], tau)
    return total / len(words)


def _pad(seqs, width, fill):
    out = np.full((len(seqs), width) + seqs[0].shape[1:], fill, dtype=np.float64)
    mask = np.zeros((len(seqs), width), dtype=bool)
    for i, s in enumerate(seqs):
        out[i, : len(s)], mask[i, : len(s)] = s, True
    return torch.tensor(out, dtype=torch.float64), torch.tensor(mask)


@pytest.mark.parametrize("vit_patches", [False, True])
def test_matches_loops_with_padding_words_and_attention_weights(vit_patches):
    rng = np.random.default_rng(0)
    dim, n_patch = 5, 6
    words = [rng.normal(size=(n, dim)) for n in (4, 7, 3)]
    word_attn = [rng.uniform(0.01, 0.3, size=len(w)) for w in words]
    regions = [rng.normal(size=(n_patch, dim)) for _ in words]
    region_attn = [rng.uniform(0.0, 0.1, size=n_patch) for _ in words] if vit_patches else None
    ref = _reference(words, regions, word_attn, region_attn)

    w, w_mask = _pad(words, 8, 9.0)  # garbage in the padding must not matter
    wa, _ = _pad([a[:, None] for a in word_attn], 8, 5.0)
    r = torch.tensor(np.stack(regions))
    ra = None if region_attn is None else torch.tensor(np.stack(region_attn))
    loss = TokenAlignmentLoss(temperature=0.1)(r, torch.ones(3, n_patch, dtype=torch.bool), ra, w, w_mask,
                                               wa[..., 0])
    assert loss.item() == pytest.approx(ref, rel=1e-6)


def test_word_direction_only_and_gradients_skip_padding():
    rng = np.random.default_rng(1)
    words = [rng.normal(size=(n, 4)) for n in (2, 5)]
    regions = [rng.normal(size=(3, 4)) for _ in words]
    ref = _reference(words, regions, [None, None], None, tau=0.5, bidirectional=False)
    w, w_mask = _pad(words, 5, 0.0)
    w.requires_grad_(True)
    loss = TokenAlignmentLoss(temperature=0.5, bidirectional=False)(
        torch.tensor(np.stack(regions)), torch.ones(2, 3, dtype=torch.bool), None, w, w_mask, None)
    assert loss.item() == pytest.approx(ref, rel=1e-6)
    loss.backward()
    assert w.grad[~w_mask].abs().max() == 0 and w.grad[w_mask].abs().sum() > 0


def test_clipped_weights_quantiles_and_renormalisation():
    attn = torch.tensor([[0.0, 0.1, 0.2, 0.3, 0.4, 9.9], [0.5, 0.2, 0.3, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True] * 5 + [False], [True, True, True, False, False, False]])
    w = clipped_weights(attn, mask)
    expected0 = np.clip([0.0, 0.1, 0.2, 0.3, 0.4], np.quantile([0.0, 0.1, 0.2, 0.3, 0.4], 0.1),
                        np.quantile([0.0, 0.1, 0.2, 0.3, 0.4], 0.9))
    np.testing.assert_allclose(w[0, :5].numpy(), expected0 / expected0.sum(), rtol=1e-6)
    assert w[0, 5] == 0 and w[1, 3:].abs().sum() == 0
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    torch.testing.assert_close(clipped_weights(None, mask)[1], torch.tensor([1 / 3] * 3 + [0.0] * 3))


def test_registered_and_bad_args():
    objectives = build_objectives({"cta": {"name": "token_alignment", "quantiles": [0.1, 0.9]}})
    out = {"region_emb": torch.randn(2, 4, 3), "region_mask": torch.ones(2, 4, dtype=torch.bool),
           "region_attn": None, "word_emb": torch.randn(2, 3, 3), "word_mask": torch.ones(2, 3, dtype=torch.bool),
           "word_attn": torch.rand(2, 3)}
    assert torch.isfinite(objectives["cta"](out))
    with pytest.raises(ValueError):
        TokenAlignmentLoss(temperature=-1)
    with pytest.raises(ValueError):
        TokenAlignmentLoss(quantiles=(0.9, 0.1))
