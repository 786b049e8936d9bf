"""GLoRIA local loss against the paper's formula written out with explicit loops over pairs, words and regions."""
import math

import pytest
import torch

from cxrvlp.objectives import GloriaLocalLoss, build_objectives, word_region_similarity
from ddp_helpers import run_in_processes


def _softmax(values):
    m = max(float(v.detach()) for v in values)
    e = [torch.exp(v - m) for v in values]
    s = sum(e)
    return [x / s for x in e]


def _reference_z(words, regions, g1=4.0, g2=5.0):
    """Z(t, v) for one report (real words [W, D]) and one image (real regions [N, D])."""
    n_w, n_r = words.shape[0], regions.shape[0]
    # first softmax: for each region, over the words of the report
    over_words = [_softmax([words[w] @ regions[r] for w in range(n_w)]) for r in range(n_r)]
    terms = []
    for w in range(n_w):
        a = _softmax([g1 * over_words[r][w] for r in range(n_r)])  # over regions
        ctx = sum(a[r] * regions[r] for r in range(n_r))
        cos = (words[w] @ ctx) / (words[w].norm() * ctx.norm())
        terms.append(torch.exp(g2 * cos))
    return torch.log(sum(terms))


def _reference_loss(word_list, region_list, g3=10.0, **kw):
    b = len(word_list)
    z = [[_reference_z(word_list[i], region_list[j], **kw) for j in range(b)] for i in range(b)]
    t2i = sum(-(g3 * z[i][i]) + torch.log(sum(torch.exp(g3 * z[i][j]) for j in range(b))) for i in range(b)) / b
    i2t = sum(-(g3 * z[j][j]) + torch.log(sum(torch.exp(g3 * z[i][j]) for i in range(b))) for j in range(b)) / b
    return t2i + i2t


def _padded(word_list, width, dim, fill=7.0):
    words = torch.full((len(word_list), width, dim), fill)  # garbage in padding: must be ignored
    mask = torch.zeros(len(word_list), width, dtype=torch.bool)
    for i, w in enumerate(word_list):
        words[i, : len(w)] = w
        mask[i, : len(w)] = True
    return words, mask


def test_matches_formula_with_padding_words_and_gradients():
    torch.manual_seed(0)
    dim, n_reg = 6, 5
    word_list = [torch.randn(n, dim, requires_grad=True) for n in (3, 5, 2)]
    regions = torch.randn(3, n_reg, dim, requires_grad=True)
    ref = _reference_loss(word_list, list(regions))
    ref_grads = torch.autograd.grad(ref, [*word_list, regions])

    words, mask = _padded([w.detach() for w in word_list], 6, dim)
    words.requires_grad_(True)
    loss = GloriaLocalLoss()(regions, torch.ones(3, n_reg, dtype=torch.bool), words, mask)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    g_words, g_regions = torch.autograd.grad(loss, [words, regions])
    for i, w in enumerate(word_list):
        torch.testing.assert_close(g_words[i, : len(w)], ref_grads[i], rtol=1e-4, atol=1e-6)
    assert g_words[~mask].abs().max() == 0  # padding gets no gradient
    torch.testing.assert_close(g_regions, ref_grads[-1], rtol=1e-4, atol=1e-6)


def test_masked_regions_take_no_part():
    torch.manual_seed(1)
    dim = 4
    word_list = [torch.randn(n, dim) for n in (2, 4)]
    real = [torch.randn(3, dim), torch.randn(5, dim)]
    regions = torch.full((2, 5, dim), -3.0)
    region_mask = torch.zeros(2, 5, dtype=torch.bool)
    for j, r in enumerate(real):
        regions[j, : len(r)], region_mask[j, : len(r)] = r, True
    words, mask = _padded(word_list, 4, dim)
    loss = GloriaLocalLoss()(regions, region_mask, words, mask)
    assert loss.item() == pytest.approx(_reference_loss(word_list, real).item(), rel=1e-5)


def test_scores_mean_aggregation_and_scales():
    torch.manual_seed(2)
    words, regions = torch.randn(2, 3, 4), torch.randn(2, 6, 4)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    z_sum = word_region_similarity(words, mask, regions, torch.ones(2, 6, dtype=torch.bool), 2.0, 3.0)
    z_mean = word_region_similarity(words, mask, regions, torch.ones(2, 6, dtype=torch.bool), 2.0, 3.0, "mean")
    assert z_sum[0, 1].item() == pytest.approx(_reference_z(words[0, :2], regions[1], 2.0, 3.0).item(), rel=1e-5)
    torch.testing.assert_close(z_sum - z_mean, torch.tensor([[math.log(2)] * 2, [math.log(3)] * 2]))


def test_report_without_words_is_finite_and_bad_args_fail():
    words, regions = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[False] * 3, [True] * 3])
    loss = GloriaLocalLoss()(regions, torch.ones(2, 5, dtype=torch.bool), words, mask)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError):
        GloriaLocalLoss(attention_scale=0)
    with pytest.raises(ValueError):
        GloriaLocalLoss(aggregation="max")


def test_registered_with_model_output_keys():
    objectives = build_objectives({"local": {"name": "gloria_local", "word_scale": 5.0}})
    out = {"region_emb": torch.randn(2, 4, 3), "region_mask": torch.ones(2, 4, dtype=torch.bool),
           "word_emb": torch.randn(2, 3, 3), "word_mask": torch.ones(2, 3, dtype=torch.bool)}
    assert torch.isfinite(objectives["local"](out))
    with pytest.raises(KeyError, match="word_mask"):
        objectives["local"]({k: v for k, v in out.items() if k != "word_mask"})


def _two_process_worker(rank, world, words, mask, regions):
    b = words.shape[0] // world
    sl = slice(rank * b, (rank + 1) * b)
    w, m = words[sl], mask[sl]
    w = w[:, : int(m.sum(1).max())].clone().requires_grad_(True)  # each process pads to its own longest report
    m = m[:, : w.shape[1]]
    r = regions[sl].clone().requires_grad_(True)
    loss = GloriaLocalLoss()(r, torch.ones(r.shape[:2], dtype=torch.bool), w, m)
    (loss / world).backward()
    return loss.item(), w.grad, r.grad


def test_two_processes_equal_one():
    torch.manual_seed(3)
    words, regions = torch.randn(4, 6, 5), torch.randn(4, 7, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]).bool()
    ref_w, ref_r = words.clone().requires_grad_(True), regions.clone().requires_grad_(True)
    ref = GloriaLocalLoss()(ref_r, torch.ones(4, 7, dtype=torch.bool), ref_w, mask)
    ref.backward()
    results = run_in_processes(_two_process_worker, 2, words, mask, regions)
    assert sum(r[0] for r in results) / 2 == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(results[0][1], ref_w.grad[:2, :3], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(results[1][1], ref_w.grad[2:], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.cat([r[2] for r in results]), ref_r.grad, rtol=1e-4, atol=1e-6)
