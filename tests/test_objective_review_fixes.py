"""Fixes from the review of the loss functions (issue 10, part 7): the InfoNCE scale clamp, a log-domain Sinkhorn,
wordless reports in the local losses (CTA, GLoRIA, LIMITR), F-L's token-aggregation size and learnable scale, and
the optional normalisation of F-L's high-order alignment."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxrvlp.layers.aggregation import TokenAggregation
from cxrvlp.methods.fl_modules import _keep_order, aggregated_token_count
from cxrvlp.objectives import GloriaLocalLoss, InfoNCELoss, LimitrLocalLoss, TokenAlignmentLoss, sinkhorn_knopp
from cxrvlp.objectives.high_order import HighOrderAlignmentLoss
from cxrvlp.objectives.multiview_itc import MaskedInfoNCELoss, MultiViewITCLoss
from ddp_helpers import run_in_processes


# -- 1. InfoNCE: clamp a learnable scale only, reject an out-of-range fixed temperature ----------------------------
def _infonce_by_hand(image, text, scale):
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T
    labels = torch.arange(image.shape[0])
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


@pytest.mark.parametrize("cls", [InfoNCELoss, MaskedInfoNCELoss, MultiViewITCLoss])
def test_fixed_temperature_below_the_limit_is_rejected(cls):
    with pytest.raises(ValueError, match=r"0\.001.*0\.01"):
        cls(temperature=1e-3)
    cls(temperature=0.01)  # 1/tau = 100 is in range
    cls(temperature=1e-3, learnable=True)  # a learnable one starts clamped, as CLIP


def test_fixed_scale_is_not_clamped_and_learnable_scale_is():
    torch.manual_seed(0)
    image, text = torch.randn(4, 6), torch.randn(4, 6)
    fixed = InfoNCELoss(temperature=0.5)
    with torch.no_grad():
        fixed.log_scale.fill_(math.log(1000.0))  # e.g. a state dict of a fixed tau = 1e-3 from before this check
    assert fixed.logit_scale().item() == pytest.approx(1000.0, rel=1e-5)
    assert fixed(image, text).item() == pytest.approx(_infonce_by_hand(image, text, 1000.0).item(), rel=1e-5)
    mask = torch.ones(4, dtype=torch.bool)
    masked = MaskedInfoNCELoss(temperature=0.5)
    masked.load_state_dict(fixed.state_dict())
    assert masked(image, text, mask).item() == pytest.approx(fixed(image, text).item(), rel=1e-5)

    for cls in (InfoNCELoss, MaskedInfoNCELoss):
        learnable = cls(temperature=1e-3, learnable=True)
        assert learnable.logit_scale().item() == pytest.approx(100.0, rel=1e-6)
        args = (image, text) if cls is InfoNCELoss else (image, text, mask)
        assert learnable(*args).item() == pytest.approx(_infonce_by_hand(image, text, 100.0).item(), rel=1e-5)


# -- 2. Sinkhorn in the log domain -----------------------------------------------------------------------------------
def _naive_sinkhorn(scores, eps, iters):
    """SwAV's Algorithm 1 as written (exp, then alternate row / column rescaling), in float64."""
    q = np.exp(np.asarray(scores, dtype=np.float64) / eps).T  # K x B
    k, b = q.shape
    q /= q.sum()
    for _ in range(iters):
        q /= k * q.sum(axis=1, keepdims=True)
        q /= b * q.sum(axis=0, keepdims=True)
    return (q / q.sum(axis=0, keepdims=True)).T


def test_sinkhorn_equals_the_naive_algorithm_at_ordinary_epsilon():
    torch.manual_seed(0)
    scores = F.normalize(torch.randn(16, 5), dim=-1) @ F.normalize(torch.randn(10, 5), dim=-1).T
    for eps in (0.05, 0.3):
        codes = sinkhorn_knopp(scores, epsilon=eps, iterations=3)
        np.testing.assert_allclose(codes.numpy(), _naive_sinkhorn(scores.numpy(), eps, 3), rtol=1e-5, atol=1e-7)


def test_sinkhorn_tiny_epsilon_is_finite_matches_float64_and_equipartitions():
    torch.manual_seed(1)
    # |s| <= 0.25: exp(s / 1e-3) stays within float64, not float32 (where the previous version gave NaN)
    scores = 0.25 * F.normalize(torch.randn(12, 4), dim=-1) @ F.normalize(torch.randn(6, 4), dim=-1).T
    codes = sinkhorn_knopp(scores, epsilon=1e-3, iterations=3)
    assert torch.isfinite(codes).all()
    np.testing.assert_allclose(codes.numpy(), _naive_sinkhorn(scores.numpy(), 1e-3, 3), rtol=1e-4, atol=1e-6)
    # full cosine range: exp(s / eps) overflows even float64; the codes are still finite and, iterated to
    # convergence (about 2,000 iterations at this epsilon, 200 at 0.01), equipartitioned
    cosine = F.normalize(torch.randn(24, 4), dim=-1) @ F.normalize(torch.randn(6, 4), dim=-1).T
    assert torch.isfinite(sinkhorn_knopp(cosine, epsilon=1e-3, iterations=3)).all()
    many = sinkhorn_knopp(cosine, epsilon=1e-3, iterations=3000)
    assert torch.isfinite(many).all()
    torch.testing.assert_close(many.sum(1), torch.ones(24))
    torch.testing.assert_close(many.sum(0), torch.full((6,), 4.0), atol=1e-2, rtol=0)  # B / K studies each


# -- 3. wordless reports -------------------------------------------------------------------------------------------
def _local_batch(seed, word_counts, width=5, dim=6, n_regions=4, fill=3.0):
    g = torch.Generator().manual_seed(seed)
    b = len(word_counts)
    words = torch.full((b, width, dim), fill, dtype=torch.float64)
    word_mask = torch.zeros(b, width, dtype=torch.bool)
    for i, n in enumerate(word_counts):
        words[i, :n] = torch.randn(n, dim, generator=g, dtype=torch.float64)
        word_mask[i, :n] = True
    regions = torch.randn(b, n_regions, dim, generator=g, dtype=torch.float64)
    region_mask = torch.ones(b, n_regions, dtype=torch.bool)
    word_attn = torch.rand(b, width, generator=g, dtype=torch.float64)
    region_attn = torch.rand(b, n_regions, generator=g, dtype=torch.float64)
    return regions, region_mask, region_attn, words, word_mask, word_attn


def _limitr():
    torch.manual_seed(5)
    return LimitrLocalLoss(6).double().eval()  # eval: SAF dropout off


def _losses():
    cta = TokenAlignmentLoss()
    gloria, limitr = GloriaLocalLoss(), _limitr()
    return {
        "cta": lambda r, rm, ra, w, wm, wa: cta(r, rm, ra, w, wm, wa),
        "cta_uniform": lambda r, rm, ra, w, wm, wa: cta(r, rm, None, w, wm, None),
        "gloria": lambda r, rm, ra, w, wm, wa: gloria(r, rm, w, wm),
        "limitr": lambda r, rm, ra, w, wm, wa: limitr(r, rm, w, wm),
    }


@pytest.mark.parametrize("name", ["cta", "cta_uniform", "gloria", "limitr"])
def test_padding_of_a_wordless_report_does_not_matter(name):
    loss_fn = _losses()[name]
    batch = list(_local_batch(0, (3, 0, 4)))
    before = loss_fn(*batch)
    batch[3] = batch[3].clone()
    batch[3][1] = torch.randn(batch[3].shape[1:], dtype=torch.float64) * 10  # the wordless report's padding
    batch[5] = batch[5].clone()
    batch[5][1] = torch.rand(batch[5].shape[1], dtype=torch.float64)
    assert loss_fn(*batch).item() == pytest.approx(before.item(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", ["cta", "cta_uniform", "gloria", "limitr"])
def test_a_wordless_study_contributes_nothing(name):
    loss_fn = _losses()[name]
    regions, region_mask, region_attn, words, word_mask, word_attn = _local_batch(1, (3, 0, 4, 2))
    regions.requires_grad_(True)
    words.requires_grad_(True)
    loss = loss_fn(regions, region_mask, region_attn, words, word_mask, word_attn)
    keep = [0, 2, 3]
    without = loss_fn(regions[keep], region_mask[keep], region_attn[keep], words[keep], word_mask[keep],
                      word_attn[keep])
    assert loss.item() == pytest.approx(without.item(), rel=1e-10)
    g_regions, g_words = torch.autograd.grad(loss, [regions, words])
    assert g_regions[1].abs().max() == 0 and g_words[1].abs().max() == 0  # the wordless study's image and report
    assert g_regions[keep].abs().sum() > 0


@pytest.mark.parametrize("name", ["cta", "gloria", "limitr"])
def test_a_batch_of_wordless_reports_gives_zero_attached_to_the_graph(name):
    loss_fn = _losses()[name]
    regions, region_mask, region_attn, words, word_mask, word_attn = _local_batch(2, (0, 0))
    regions.requires_grad_(True)
    loss = loss_fn(regions, region_mask, region_attn, words, word_mask, word_attn)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert regions.grad.abs().max() == 0


# -- 2 and 3 on two gloo processes ---------------------------------------------------------------------------------
def _two_process_worker(rank, world, scores, batch, limitr_state):
    b = scores.shape[0] // world
    codes = sinkhorn_knopp(scores[rank * b: (rank + 1) * b], epsilon=1e-3, iterations=3)
    regions, region_mask, _, words, word_mask, _ = batch
    n = regions.shape[0] // world
    sl = slice(rank * n, (rank + 1) * n)
    w, m = words[sl], word_mask[sl]
    width = max(1, int(m.sum(1).max()))  # each process pads to its own longest report
    out = [codes]
    for loss_fn in (GloriaLocalLoss(), LimitrLocalLoss(words.shape[-1]).double().eval()):
        if isinstance(loss_fn, LimitrLocalLoss):
            loss_fn.load_state_dict(limitr_state)
        r = regions[sl].clone().requires_grad_(True)
        ww = w[:, :width].clone().requires_grad_(True)
        loss = loss_fn(r, region_mask[sl], ww, m[:, :width])
        (loss / world).backward()
        out += [loss.item(), r.grad, ww.grad]
    return out


def test_two_processes_equal_one_with_tiny_epsilon_and_a_wordless_report():
    torch.manual_seed(3)
    scores = F.normalize(torch.randn(8, 4), dim=-1) @ F.normalize(torch.randn(5, 4), dim=-1).T
    single = sinkhorn_knopp(scores, epsilon=1e-3, iterations=3)
    batch = _local_batch(4, (2, 0, 3, 5))  # process 0 holds the wordless report and one real one
    regions, region_mask, _, words, word_mask, _ = batch
    limitr = _limitr()
    refs = []
    for loss_fn in (GloriaLocalLoss(), limitr):
        r, w = regions.clone().requires_grad_(True), words.clone().requires_grad_(True)
        loss = loss_fn(r, region_mask, w, word_mask)
        loss.backward()
        refs.append((loss.item(), r.grad, w.grad))
    results = run_in_processes(_two_process_worker, 2, scores, batch, limitr.state_dict())
    torch.testing.assert_close(torch.cat([r[0] for r in results]), single, rtol=1e-5, atol=1e-7)
    for k, (ref_loss, ref_r, ref_w) in enumerate(refs):
        at = 1 + 3 * k
        assert sum(r[at] for r in results) / 2 == pytest.approx(ref_loss, rel=1e-9)
        torch.testing.assert_close(torch.cat([r[at + 1] for r in results]), ref_r)
        torch.testing.assert_close(results[0][at + 2], ref_w[:2, :results[0][at + 2].shape[1]])
        torch.testing.assert_close(results[1][at + 2], ref_w[2:])


# -- 4. F-L token aggregation ------------------------------------------------------------------------------------
def test_aggregated_token_count():
    assert aggregated_token_count(245, 0.8, 0.7) == 137  # 196 kept of 196 + 49 tokens
    assert aggregated_token_count(196, 0.8, 0.7) == 109  # without a lateral: 157 kept
    assert aggregated_token_count(90, 1.0, 0.7) == 63  # 0.7 * 90 is 62.999... in floating point
    assert aggregated_token_count(2, 0.5, 0.1) == 1  # at least one
    for n in range(1, 300):  # the kept count is the one select_key_tokens keeps
        _, keep = _keep_order(torch.zeros(1, n), torch.ones(1, n, dtype=torch.bool), 0.8)
        assert aggregated_token_count(n, 0.8, 1.0) == int(keep)
    for bad in ((0, 0.8, 0.7), (245, 0.0, 0.7), (245, 0.8, 0.0), (245, 0.8, 1.5)):
        with pytest.raises(ValueError):
            aggregated_token_count(*bad)


def test_token_aggregation_learnable_scale():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    agg = TokenAggregation(8, 3)
    plain = TokenAggregation(8, 3, learnable_scale=False)
    assert agg.scale.shape == () and agg.scale.item() == 1.0  # 0-d: no weight decay (p.ndim > 1 only)
    assert not any("scale" in name for name, _ in plain.named_parameters())
    plain.load_state_dict({k: v for k, v in agg.state_dict().items() if k != "scale"})
    torch.testing.assert_close(agg(x, mask), plain(x, mask))  # starts as the module without a scale
    with torch.no_grad():
        agg.scale.fill_(2.5)
    logits = 2.5 * plain.weights(x)
    expected = torch.softmax(logits.masked_fill(~mask.unsqueeze(-1), -1e30), dim=1).transpose(1, 2) @ x
    torch.testing.assert_close(agg(x, mask), expected)
    agg(x, mask).sum().backward()
    assert agg.scale.grad is not None and agg.scale.grad.abs() > 0


# -- 5. F-L high-order alignment: normalisation is an option ------------------------------------------------------
def test_high_order_alignment_normalisation_option():
    torch.manual_seed(2)
    f, lat, t = torch.randn(6, 8), torch.randn(6, 8), torch.randn(6, 8)
    mask = torch.tensor([1, 1, 0, 1, 0, 1]).bool()
    raw = HighOrderAlignmentLoss(dim=8, num_prototypes=5, normalize=False)
    normed = HighOrderAlignmentLoss(dim=8, num_prototypes=5)
    normed.load_state_dict(raw.state_dict())
    c = F.normalize(raw.prototypes.weight, dim=-1)
    codes = sinkhorn_knopp(t @ c.T, 0.07, 3)  # the public code: raw embeddings against unit prototypes
    ce = [-(codes * F.log_softmax(v @ c.T / 0.1, dim=-1)).sum(1) for v in (f, lat)]
    expected = 0.5 * (ce[0].mean() + ce[1][mask].mean())
    assert raw(f, lat, mask, t).item() == pytest.approx(expected.item(), abs=1e-5)
    # normalised: invariant to the embeddings' norms; raw: not
    assert normed(3 * f, 3 * lat, mask, 3 * t).item() == pytest.approx(normed(f, lat, mask, t).item(), rel=1e-5)
    assert raw(3 * f, 3 * lat, mask, 3 * t).item() != pytest.approx(raw(f, lat, mask, t).item(), rel=1e-2)
