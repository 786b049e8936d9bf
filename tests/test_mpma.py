"""MPMA's pieces: paired masks drawn in the data pipeline (exact ratios, whole words, reproducible), the masked
image loss on hidden patches only, MLM on masked words only, and the fusion path that lets the image reach the
report's reconstruction (and nothing else does)."""
import numpy as np
import pytest
import torch

from cxrvlp.data.targets import TargetContext, build_targets, item_rngs
from cxrvlp.layers.patches import normalised_patches, patchify
from cxrvlp.methods.loading import build_pretraining
from cxrvlp.objectives.masked_image import MaskedPatchLoss
from cxrvlp.recipe import load_recipe
from cxrvlp.text.masking import IGNORE_INDEX
from cxrvlp.text.tokenize import Tokenize

TEXTS = ["Small left pleural effusion.", "No pneumothorax. Heart size is normal.", "Edema.",
         "Moderate cardiomegaly with mild interstitial edema and a small right effusion."]


def _batch(model, cfg, seeds=(0, 1, 2, 3), ratio=None):
    specs = cfg.data.targets if ratio is None else [{"name": "paired_masking", **ratio}]
    grid = model.image_encoder.feature_grid(cfg.data.crop)
    targets = build_targets(specs, TargetContext(model.text_encoder.tokenizer, image_grid=grid))
    enc = Tokenize(model.text_encoder.tokenizer)(TEXTS, model.text_encoder.max_length, offsets=True)
    g = torch.Generator().manual_seed(0)
    batch = {"frontal": torch.randn(4, 1, cfg.data.crop, cfg.data.crop, generator=g), "text": TEXTS,
             "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    for t in targets:
        batch.update(t(batch, enc, item_rngs(list(seeds), t.name)))
    return batch, enc


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = load_recipe("mpma-tiny")
    model, objectives = build_pretraining(cfg)
    return cfg, model, objectives


def test_paired_masks_exact_ratios_whole_words_and_reproducible(tiny):
    cfg, model, _ = tiny
    batch, enc = _batch(model, cfg, ratio={"image_ratio": 0.5, "word_ratio": 0.4})
    n = batch["mim_mask"].shape[1]
    assert (batch["mim_mask"].sum(1) == n // 2).all()
    for i in range(4):
        words = {}
        for pos, w in enumerate(enc["word_ids"][i]):
            if w is not None:
                words.setdefault(w, []).append(pos)
        hidden = batch["mlm_labels"][i] != IGNORE_INDEX
        masked_words = [w for w, pos in words.items() if hidden[pos].any()]
        assert len(masked_words) == max(1, round(0.4 * len(words)))
        assert all(hidden[words[w]].all() for w in masked_words)  # whole words
        assert (batch["mlm_input_ids"][i][hidden] == model.text_encoder.mask_token_id).all()
    again, _ = _batch(model, cfg, ratio={"image_ratio": 0.5, "word_ratio": 0.4})
    assert torch.equal(again["mim_mask"], batch["mim_mask"]) and torch.equal(again["mlm_labels"], batch["mlm_labels"])
    other, _ = _batch(model, cfg, seeds=(9, 1, 2, 3), ratio={"image_ratio": 0.5, "word_ratio": 0.4})
    assert not torch.equal(other["mim_mask"][0], batch["mim_mask"][0]) and torch.equal(other["mim_mask"][1:],
                                                                                        batch["mim_mask"][1:])


def test_masked_patch_loss_ignores_visible_patches():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 6, 4, generator=g), torch.randn(2, 6, 4, generator=g)
    mask = torch.tensor([[1, 1, 0, 0, 0, 1], [0, 1, 0, 1, 0, 0]], dtype=torch.bool)
    loss = MaskedPatchLoss()
    value = loss(pred, target, mask)
    changed = target.clone()
    changed[~mask] += 10.0
    assert loss(pred, changed, mask) == value
    naive = np.mean([((pred[b, i] - target[b, i]) ** 2).mean() for b in range(2) for i in range(6) if mask[b, i]])
    assert value.item() == pytest.approx(float(naive), rel=1e-6)


def test_patchify_and_normalised_target():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    p = patchify(x, 2)
    assert p.shape == (2, 4, 4) and p[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]  # row-major grid, row-major pixels
    n = normalised_patches(x, 2)
    torch.testing.assert_close(n.mean(-1), torch.zeros(2, 4), atol=1e-6, rtol=0)


def test_model_outputs_mlm_on_masked_words_and_pixels_of_every_patch(tiny):
    cfg, model, objectives = tiny
    batch, _ = _batch(model, cfg)
    out = model.train()(batch)
    masked = batch["mlm_labels"] != IGNORE_INDEX
    assert out["mlm_logits"].shape == (int(masked.sum()), model.text_encoder.vocab_size)
    assert torch.equal(out["mlm_targets"], batch["input_ids"][masked])
    n = batch["mim_mask"].shape[1]
    assert out["mim_pred"].shape == out["mim_target"].shape and out["mim_pred"].shape[1] == n
    assert out["fused_emb"].shape == (4, model.options.fusion_dim)


@pytest.mark.parametrize("path", [True, False])
def test_the_image_reaches_report_reconstruction_only_through_the_fusion(path):
    overrides = [] if path else ["model_options.memory_slots=0", "model_options.text_reads_image=false"]
    cfg = load_recipe("mpma-tiny", overrides)
    torch.manual_seed(0)
    model, objectives = build_pretraining(cfg)
    batch, _ = _batch(model, cfg)
    batch["frontal"].requires_grad_(True)
    out = model.train()(batch)
    objectives["mlm"](out, batch).backward()
    reached = batch["frontal"].grad is not None and batch["frontal"].grad.abs().sum() > 0
    assert reached == path
