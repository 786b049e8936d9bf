"""SISTA's objectives against naive loop references: SIA (semantics-aware instance alignment) and STA (sparse token
alignment), the sparse normalisations, the findings target and the model's extra outputs."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxrvlp.layers.sparse import sparsemax, threshold_softmax, topk_softmax
from cxrvlp.objectives import InfoNCELoss
from cxrvlp.objectives.semantic_instance import SemanticInstanceAlignmentLoss, label_similarity
from cxrvlp.objectives.sparse_token import SparseTokenAlignmentLoss


def _leaves(*xs):
    return [x.clone().requires_grad_(True) for x in xs]


# -- SIA -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["soft", "mask"])
@pytest.mark.parametrize("similarity", [["text"], ["labels"], ["text", "labels"]])
def test_sia_with_distinct_reports_is_infonce_exactly(mode, similarity):
    torch.manual_seed(0)
    image, text = torch.randn(6, 8), torch.randn(6, 8)
    report = torch.eye(6, 8)  # orthogonal: cosine 0 between any two reports
    findings = torch.eye(6, 7)  # one different finding each: Jaccard 0
    a = _leaves(image, text)
    b = _leaves(image, text)
    sia = SemanticInstanceAlignmentLoss(0.1, mode=mode, similarity=similarity, threshold=0.5)(*a, report, findings)
    ref = InfoNCELoss(0.1)(*b)
    torch.testing.assert_close(sia, ref, atol=1e-7, rtol=0)
    sia.backward(), ref.backward()
    for x, y in zip(a, b):
        torch.testing.assert_close(x.grad, y.grad, atol=1e-7, rtol=0)


def _naive_sia(image, text, sim, threshold, mode, beta, tau=0.1, lam=0.5):
    v, t = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    n = v.shape[0]
    total = 0.0
    for i in range(n):
        for scores, weight in ((v[i] @ t.T / tau, lam), (t[i] @ v.T / tau, 1 - lam)):
            twins = [j for j in range(n) if j != i and sim[i, j] >= threshold]
            if mode == "mask":
                cols = [j for j in range(n) if j not in twins]
                loss = -(scores[i] - torch.logsumexp(scores[cols], 0))
            else:
                spread = {j: float(sim[i, j]) for j in twins + [i]}
                z = sum(spread.values())
                q = {j: beta * w / z for j, w in spread.items()}
                q[i] += 1 - beta
                logp = scores - torch.logsumexp(scores, 0)
                loss = -sum(w * logp[j] for j, w in q.items())
            total = total + weight * loss
    return total / n


@pytest.mark.parametrize("mode", ["soft", "mask"])
def test_sia_twins_are_not_negatives_naive_reference(mode):
    torch.manual_seed(1)
    image, text = torch.randn(5, 8), torch.randn(5, 8)
    report = torch.randn(5, 8)
    report[3] = report[1]  # studies 1 and 3 have the same report
    loss = SemanticInstanceAlignmentLoss(0.1, mode=mode, similarity=["text"], threshold=0.95,
                                         soft_weight=0.4)
    sim = loss.report_similarity(report, None)
    assert sim[1, 3] == pytest.approx(1.0) and (sim.diagonal() == 1).all()
    torch.testing.assert_close(loss(image, text, report), _naive_sia(image, text, sim, 0.95, mode, 0.4))
    if mode == "mask":  # the twin's logit takes no part: moving its text changes nothing for row 1
        other = text.clone()
        other[3] = torch.randn(8)
        rows = SemanticInstanceAlignmentLoss(0.1, mode="mask", similarity=["text"], threshold=0.95)
        a = rows(image[[1, 3]], text[[1, 3]], report[[1, 3]])
        b = rows(image[[1, 3]], other[[1, 3]], report[[1, 3]])
        # every column of a two-twin batch except the own pair is masked: each row's loss is 0
        assert a.item() == pytest.approx(0.0, abs=1e-6) and b.item() == pytest.approx(0.0, abs=1e-6)


def test_label_similarity_is_jaccard_and_normal_reports_agree():
    f = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    s = label_similarity(f, f)
    assert s[0, 1] == pytest.approx(0.5) and s[2, 3] == 1.0 and s[0, 2] == 0.0 and s[1, 1] == 1.0


def test_sia_options_are_checked():
    with pytest.raises(ValueError, match="mode"):
        SemanticInstanceAlignmentLoss(mode="hard")
    with pytest.raises(ValueError, match="similarity"):
        SemanticInstanceAlignmentLoss(similarity=["words"])
    with pytest.raises(ValueError, match="needs report_emb"):
        SemanticInstanceAlignmentLoss(similarity=["text"])(torch.randn(2, 4), torch.randn(2, 4))


# -- sparse normalisations ---------------------------------------------------------------------------------------------
def _naive_sparsemax(z):
    zs = sorted(z, reverse=True)
    k = max(k for k in range(1, len(zs) + 1) if 1 + k * zs[k - 1] > sum(zs[:k]))
    tau = (sum(zs[:k]) - 1) / k
    return [max(0.0, x - tau) for x in z]


def test_sparsemax_matches_the_definition_and_masks():
    torch.manual_seed(2)
    z = torch.randn(4, 7) * 2
    mask = torch.ones(4, 7, dtype=torch.bool)
    mask[1, 3:] = False
    mask[2] = False
    p = sparsemax(z, mask)
    np.testing.assert_allclose(p[0].numpy(), _naive_sparsemax(z[0].tolist()), atol=1e-6)
    np.testing.assert_allclose(p[1, :3].numpy(), _naive_sparsemax(z[1, :3].tolist()), atol=1e-6)
    assert (p[1, 3:] == 0).all() and (p[2] == 0).all()
    torch.testing.assert_close(p.sum(-1), torch.tensor([1.0, 1.0, 0.0, 1.0]))


def test_topk_and_threshold_keep_what_they_say():
    z = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])
    p = topk_softmax(z, 2)
    assert (p > 0).sum() == 2 and p[0, :2].sum() == pytest.approx(1.0)
    q = threshold_softmax(z, 0.3)  # weights within log(1/0.3) = 1.2 of the maximum: only the first two
    assert (q > 0).tolist() == [[True, True, False, False, False]]


# -- STA -----------------------------------------------------------------------------------------------------------
def _sta_inputs(seed=3, b=3, words=5, patches=9, dim=6):
    g = torch.Generator().manual_seed(seed)
    w, p = torch.randn(b, words, dim, generator=g), torch.randn(b, patches, dim, generator=g)
    wm = torch.ones(b, words, dtype=torch.bool)
    wm[0, 3:] = False
    wm[2, 1:] = False
    return p, torch.ones(b, patches, dtype=torch.bool), w, wm


def _naive_sta(patches, patch_mask, words, word_mask, tau=0.1, tau_a=0.1):
    def contrast(x, c):
        s = x @ c.T / tau
        n = len(x)
        return sum(0.5 * (-(s[i, i] - torch.logsumexp(s[i], 0)) - (s[i, i] - torch.logsumexp(s[:, i], 0)))
                   for i in range(n)) / n

    word_losses, patch_losses = [], []
    for b in range(words.shape[0]):
        w = F.normalize(words[b][word_mask[b]], dim=-1)
        p = F.normalize(patches[b][patch_mask[b]], dim=-1)
        if not len(w):
            continue
        a = torch.stack([sparsemax((w[i] @ p.T / tau_a)[None])[0] for i in range(len(w))])
        word_losses.append(contrast(w, F.normalize(a @ p, dim=-1)))
        relevant = (a > 0).any(0)
        pr = p[relevant]
        bw = torch.stack([sparsemax((pr[j] @ w.T / tau_a)[None])[0] for j in range(len(pr))])
        patch_losses.append(contrast(pr, F.normalize(bw @ w, dim=-1)))
    return sum(word_losses) / len(word_losses) + sum(patch_losses) / len(patch_losses)


def test_sta_matches_a_loop_over_studies_and_words():
    inputs = _sta_inputs()
    torch.testing.assert_close(SparseTokenAlignmentLoss()(*inputs), _naive_sta(*inputs), atol=1e-5, rtol=1e-5)


def test_sta_is_sparse_padding_gets_nothing_and_unselected_patches_get_no_gradient():
    patches, patch_mask, words, word_mask = _sta_inputs()
    patches.requires_grad_(True)
    loss = SparseTokenAlignmentLoss(sparsity="topk", k=2)
    to_patches, to_words = loss.attention(F.normalize(words, dim=-1), word_mask, F.normalize(patches, dim=-1),
                                          patch_mask)
    assert ((to_patches > 0).sum(-1) <= 2).all()
    assert (to_patches[~word_mask] == 0).all() and (to_words.transpose(1, 2)[~word_mask] == 0).all()
    unselected = ~(to_patches > 0).any(dim=1)
    assert unselected.any()
    loss(patches, patch_mask, words, word_mask).backward()
    assert (patches.grad[unselected] == 0).all()
    assert (patches.grad[~unselected].abs().sum(-1) > 0).all()
    sparse = SparseTokenAlignmentLoss(attention_temperature=0.05)
    support = sparse.attention(F.normalize(words, dim=-1), word_mask, F.normalize(patches, dim=-1), patch_mask)[0]
    torch.testing.assert_close(support.sum(-1)[word_mask], torch.ones(int(word_mask.sum())))
    assert (support > 0).sum(-1)[word_mask].float().mean() < patches.shape[1]  # sparser than a softmax


def test_sta_ignores_a_study_without_content_words():
    patches, patch_mask, words, word_mask = _sta_inputs()
    word_mask[1] = False
    loss = SparseTokenAlignmentLoss()
    keep = [0, 2]
    torch.testing.assert_close(loss(patches, patch_mask, words, word_mask),
                               loss(patches[keep], patch_mask[keep], words[keep], word_mask[keep]))
    assert math.isfinite(loss(patches, patch_mask, words, torch.zeros_like(word_mask)).item())


# -- model and target --------------------------------------------------------------------------------------------------
def test_sista_model_outputs_content_words_and_an_ema_similarity():
    from _batches import with_targets
    from cxrvlp.methods.loading import build_pretraining
    from cxrvlp.objectives import compute_losses
    from cxrvlp.recipe import load_recipe

    torch.manual_seed(0)
    model, objectives = build_pretraining(load_recipe("sista-tiny"))
    texts = ["Small left pleural effusion.", "No pneumothorax.", "Small left pleural effusion.", "The lungs are clear."]
    batch = with_targets({"frontal": torch.randn(4, 1, 64, 64), **model.text_encoder.tokenize(texts),
                          "text": texts}, model)
    assert batch["report_findings"].shape[0] == 4 and batch["report_findings"][0].sum() == 1
    assert torch.equal(batch["report_findings"][0], batch["report_findings"][2])
    out = model.train()(batch)
    # "Small left pleural effusion." has 5 words, the full stop is no content; "The ... are ... ." loses 3 of 5
    assert out["content_word_mask"].sum(1).tolist() == [4, 2, 4, 2]
    assert not out["report_sim_emb"].requires_grad
    ema = [p.clone() for p in model.similarity_tower.parameters()]
    terms = compute_losses(objectives, out, batch)
    terms["loss"].backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    model(batch)  # the EMA tower moves towards the trained text tower in the next training forward
    assert any(not torch.equal(a, b) for a, b in zip(ema, model.similarity_tower.parameters()))
    assert all(not p.requires_grad for p in model.similarity_tower.parameters())
