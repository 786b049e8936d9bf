"""MGCA prototype alignment and the Sinkhorn-Knopp codes against loops over prototypes and samples (numpy, float64)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxrvlp.objectives import PrototypeAlignmentLoss, build_objectives, sinkhorn_knopp
from ddp_helpers import run_in_processes


def _reference_sinkhorn(scores, eps, iters):
    q = np.exp(np.asarray(scores, dtype=np.float64) / eps).T  # K x B
    k, b = q.shape
    q /= q.sum()
    for _ in range(iters):
        for i in range(k):
            q[i, :] *= (1.0 / k) / q[i, :].sum()
        for j in range(b):
            q[:, j] *= (1.0 / b) / q[:, j].sum()
    for j in range(b):
        q[:, j] /= q[:, j].sum()
    return q.T


def _reference_loss(image, text, prototypes, eps, iters, tau):
    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    c = unit(np.asarray(prototypes, dtype=np.float64))
    s_img, s_txt = unit(np.asarray(image, np.float64)) @ c.T, unit(np.asarray(text, np.float64)) @ c.T
    q_img, q_txt = _reference_sinkhorn(s_img, eps, iters), _reference_sinkhorn(s_txt, eps, iters)
    total = 0.0
    for i in range(image.shape[0]):
        log_p_img = s_img[i] / tau - np.log(np.exp(s_img[i] / tau).sum())
        log_p_txt = s_txt[i] / tau - np.log(np.exp(s_txt[i] / tau).sum())
        total += -0.5 * (sum(q_img[i, k] * log_p_txt[k] for k in range(c.shape[0]))
                         + sum(q_txt[i, k] * log_p_img[k] for k in range(c.shape[0])))
    return total / image.shape[0]


def test_sinkhorn_matches_loops_and_equipartitions():
    torch.manual_seed(0)
    scores = F.normalize(torch.randn(6, 4), dim=-1)  # cosine-like scores
    codes = sinkhorn_knopp(scores, epsilon=0.3, iterations=3)
    np.testing.assert_allclose(codes.numpy(), _reference_sinkhorn(scores.numpy(), 0.3, 3), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(codes.sum(1), torch.ones(6))
    many = sinkhorn_knopp(scores, epsilon=0.3, iterations=200)
    torch.testing.assert_close(many.mean(0), torch.full((4,), 0.25), atol=1e-4, rtol=0)  # equal prototype shares


def test_sinkhorn_small_epsilon_stays_finite_and_rejects_bad_args():
    codes = sinkhorn_knopp(torch.tensor([[1.0, -1.0], [0.9, 0.8], [-1.0, 1.0]]), epsilon=0.01, iterations=3)
    assert torch.isfinite(codes).all()
    with pytest.raises(ValueError):
        sinkhorn_knopp(torch.randn(2, 3), epsilon=0.0)
    with pytest.raises(ValueError):
        sinkhorn_knopp(torch.randn(2, 3), iterations=0)


def test_loss_matches_formula_and_trains_prototypes():
    torch.manual_seed(1)
    loss_fn = PrototypeAlignmentLoss(dim=5, num_prototypes=7, epsilon=0.05, iterations=3, temperature=0.2)
    image, text = torch.randn(6, 5), torch.randn(6, 5)
    loss = loss_fn(image, text)
    ref = _reference_loss(image.numpy(), text.numpy(), loss_fn.prototypes.weight.detach().numpy(), 0.05, 3, 0.2)
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    loss.backward()
    assert loss_fn.prototypes.weight.grad.abs().sum() > 0


def test_prototypes_frozen_for_the_first_epochs_only():
    loss_fn = PrototypeAlignmentLoss(dim=4, num_prototypes=3, freeze_epochs=1)
    assert loss_fn.frozen_parameters(0) == [loss_fn.prototypes.weight]
    assert loss_fn.frozen_parameters(1) == []
    assert PrototypeAlignmentLoss(dim=4, num_prototypes=3, freeze_epochs=0).frozen_parameters(0) == []


def test_bad_shapes_and_args_fail_clearly():
    with pytest.raises(ValueError, match="projection dim"):
        PrototypeAlignmentLoss(dim=4)(torch.randn(2, 5), torch.randn(2, 5))
    with pytest.raises(ValueError):
        PrototypeAlignmentLoss(dim=4, epsilon=0)
    objectives = build_objectives({"cpa": {"name": "prototype_alignment", "dim": 3, "num_prototypes": 4}})
    assert torch.isfinite(objectives["cpa"]({"image_emb": torch.randn(4, 3), "text_emb": torch.randn(4, 3)}))


def _worker(rank, world, scores, image, text, weight):
    b = scores.shape[0] // world
    sl = slice(rank * b, (rank + 1) * b)
    codes = sinkhorn_knopp(scores[sl], epsilon=0.05, iterations=3)
    loss_fn = PrototypeAlignmentLoss(dim=image.shape[1], num_prototypes=weight.shape[0])
    with torch.no_grad():
        loss_fn.prototypes.weight.copy_(weight)
    img = image[sl].clone().requires_grad_(True)
    loss = loss_fn(img, text[sl])
    (loss / world).backward()
    return codes, loss.item(), img.grad, loss_fn.prototypes.weight.grad


def test_distributed_sinkhorn_and_loss_equal_single_process():
    torch.manual_seed(2)
    scores = F.normalize(torch.randn(8, 5), dim=-1)
    image, text, weight = torch.randn(8, 6), torch.randn(8, 6), torch.randn(5, 6)
    single = sinkhorn_knopp(scores, epsilon=0.05, iterations=3)
    ref_fn = PrototypeAlignmentLoss(dim=6, num_prototypes=5)
    with torch.no_grad():
        ref_fn.prototypes.weight.copy_(weight)
    ref_img = image.clone().requires_grad_(True)
    ref = ref_fn(ref_img, text)
    ref.backward()

    results = run_in_processes(_worker, 2, scores, image, text, weight)
    torch.testing.assert_close(torch.cat([r[0] for r in results]), single, rtol=1e-5, atol=1e-7)
    assert sum(r[1] for r in results) / 2 == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([r[2] for r in results]), ref_img.grad, rtol=1e-4, atol=1e-7)
    # DDP averages the prototype gradients over processes
    torch.testing.assert_close(sum(r[3] for r in results), ref_fn.prototypes.weight.grad, rtol=1e-4, atol=1e-7)
