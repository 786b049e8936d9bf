"""LIMITR multi-view fusion against a loop over studies, the shared positional encoding, and the model with
missing lateral views."""
import math

import pytest
import torch

from cxrvlp.layers.positional import sincos_2d
from cxrvlp.methods.loading import build_pretraining
from cxrvlp.methods.multiview import fuse_views
from cxrvlp.recipe import load_recipe


def test_fuse_views_matches_loop_over_studies():
    torch.manual_seed(0)
    b, nf, nl, d = 4, 3, 2, 8
    fg, fr = torch.randn(b, d), torch.randn(b, nf, d)
    index = torch.tensor([3, 1])  # packed laterals of studies 3 and 1, in that order
    lg, lr = torch.randn(2, d), torch.randn(2, nl, d)
    pf, pl = torch.randn(nf, d), torch.randn(nl, d)
    g, regions, mask = fuse_views(fg, fr, lg, lr, index, pf, pl)
    for s in range(b):
        packed = (index == s).nonzero().flatten().tolist()
        if packed:
            k = packed[0]
            torch.testing.assert_close(g[s], (fg[s] + lg[k]) / 2)
            torch.testing.assert_close(regions[s, nf:], lr[k] + pl)
            assert mask[s].all()
        else:
            torch.testing.assert_close(g[s], fg[s])  # not halved by a missing view
            assert not mask[s, nf:].any() and regions[s, nf:].abs().sum() == 0
        torch.testing.assert_close(regions[s, :nf], fr[s] + pf)
        assert mask[s, :nf].all()


def test_fuse_views_without_any_lateral_and_gradients():
    fg = torch.randn(2, 4, requires_grad=True)
    g, regions, mask = fuse_views(fg, torch.randn(2, 3, 4), torch.zeros(0, 4), torch.zeros(0, 5, 4),
                                  torch.zeros(0, dtype=torch.long))
    assert regions.shape == (2, 8, 4) and mask.sum() == 6
    g.sum().backward()
    torch.testing.assert_close(fg.grad, torch.ones(2, 4))


def test_sincos_2d_formula():
    pe = sincos_2d(2, 3, 8)
    assert pe.shape == (6, 8)
    omega = [1.0, 10000 ** -1.0]  # dim/4 = 2 frequencies: T^0, T^-1
    y, x = 1, 2  # token 5 in row-major order
    expected = [math.sin(x * w) for w in omega] + [math.cos(x * w) for w in omega] + \
               [math.sin(y * w) for w in omega] + [math.cos(y * w) for w in omega]
    torch.testing.assert_close(pe[5], torch.tensor(expected))
    with pytest.raises(ValueError):
        sincos_2d(2, 2, 6)


@pytest.fixture(scope="module")
def limitr_tiny():
    model, objectives = build_pretraining(load_recipe("limitr-tiny"))
    model.objectives_for_test = objectives
    return model


def _batch(model, lateral_of, n=3, size=64):
    tok = model.text_encoder.tokenize(["small left pneumothorax.", "no effusion", "enlarged heart"][:n])
    torch.manual_seed(1)
    frontal = torch.randn(n, 1, size, size)
    idx = torch.tensor(lateral_of, dtype=torch.long)
    return {"frontal": frontal, "lateral": torch.randn(len(lateral_of), 1, size, size), "lateral_index": idx,
            "has_lateral": torch.zeros(n, dtype=torch.bool).index_fill(0, idx, True), **tok}


def test_model_masks_missing_laterals_and_single_view_global_is_the_frontal(limitr_tiny):
    model = limitr_tiny.eval()
    batch = _batch(model, [2])
    with torch.no_grad():
        out = model(batch)
        frontal_only = model.embed_images(batch["frontal"])
    h, w = model.image_encoder.feature_grid(64)
    n = h * w
    assert out["region_emb"].shape[1] == 2 * n
    assert out["region_mask"][:2, n:].sum() == 0 and out["region_mask"][2].all()
    torch.testing.assert_close(torch.nn.functional.normalize(out["image_emb"][:2], dim=-1), frontal_only[:2])
    assert not torch.allclose(torch.nn.functional.normalize(out["image_emb"][2], dim=-1), frontal_only[2])
    # a lateral view changes only its own study
    with torch.no_grad():
        other = model({**batch, "lateral": torch.randn_like(batch["lateral"])})
    torch.testing.assert_close(other["image_emb"][:2], out["image_emb"][:2])
    torch.testing.assert_close(other["region_emb"][:2], out["region_emb"][:2])


def test_model_batch_without_laterals_and_backward(limitr_tiny):
    model = limitr_tiny.train()
    batch = _batch(model, [])
    out = model(batch)
    h, w = model.image_encoder.feature_grid(64)
    assert out["region_mask"].shape[1] == 2 * h * w and out["region_mask"][:, h * w:].sum() == 0
    loss = sum(obj.weight * obj(out) for obj in model.objectives_for_test.values())
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.image_encoder.parameters())
    assert all(p.grad is None for p in model.lateral_encoder.parameters())
    model.zero_grad()
    out = model(_batch(model, [0, 1]))
    sum(obj(out) for obj in model.objectives_for_test.values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.lateral_encoder.parameters())
