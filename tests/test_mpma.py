"""MPMA's pieces: paired masks drawn in the data pipeline (exact ratios, whole words, reproducible), the masked
image loss on hidden patches only, MLM on masked words only, and the fusion path that lets the image reach the
report's reconstruction (and nothing else does)."""
import numpy as np
import pytest
import torch

from cxrvlp.data.targets import TargetContext, apply_targets, build_targets
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
    return apply_targets(targets, batch, enc, list(seeds)), enc


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


def test_a_batch_of_paired_image_only_and_report_only_studies(tiny):
    """Each loss sees only the studies it can use, and one training step runs."""
    from cxrvlp.data.dataset import Collate
    from cxrvlp.objectives import InfoNCELoss, TokenAlignmentLoss, compute_losses

    cfg, model, objectives = tiny
    texts = ["Small left pleural effusion.", "Heart size is normal.", "", "", "Edema.", "Right pneumothorax."]
    has_image = [True, True, True, True, False, False]
    g = torch.Generator().manual_seed(3)
    items = [{"frontal": torch.randn(1, 64, 64, generator=g) if img else torch.zeros(1, 64, 64), "lateral": None,
              "has_image": img, "text": t, "labels": torch.zeros(2), "index": i, "seed": i, "study_id": str(i)}
             for i, (t, img) in enumerate(zip(texts, has_image))]
    grid = model.image_encoder.feature_grid(cfg.data.crop)
    targets = build_targets(cfg.data.targets, TargetContext(model.text_encoder.tokenizer, image_grid=grid))
    batch = Collate(Tokenize(model.text_encoder.tokenizer), 48, targets)(items)
    assert batch["has_report"].tolist() == [True, True, False, False, True, True]
    out = model.train()(batch)
    paired = out["paired_mask"]
    assert paired.tolist() == [True, True, False, False, False, False]
    n = out["mim_mask"].shape[1]
    assert not out["mim_mask"][4:].any() and (out["mim_mask"][:4].sum(1) == round(0.75 * n)).all()  # images only
    rows = (batch["mlm_labels"] != IGNORE_INDEX).any(dim=1)
    assert rows.tolist() == [True, True, False, False, True, True]  # MLM only where there is a report
    terms = compute_losses(objectives, out, batch)
    itc = InfoNCELoss(0.07)(out["image_emb"][paired], out["text_emb"][paired])
    torch.testing.assert_close(terms["itc"], itc)
    keep = paired.nonzero().flatten()
    local = TokenAlignmentLoss(0.1)(out["region_emb"][keep], out["region_mask"][keep], out["region_attn"],
                                    out["word_emb"][keep], out["word_mask"][keep], out["word_attn"])
    torch.testing.assert_close(terms["local"], local)
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_collections_are_mixed_by_weight(tiny_phantom):
    from cxrvlp.data.sampler import SeededSampler
    from cxrvlp.training.datamodule import StudyDataModule

    cfg = load_recipe("mpma-tiny", [f"data.root={tiny_phantom}", "data.unpaired=true",
                                    f"data.collections=[{{adapter: phantom, root: {tiny_phantom}, weight: 3.0}}]",
                                    "data.targets=[]"])
    dm = StudyDataModule(cfg.data, lambda texts, n: None, mean=0.5, std=0.5)
    dm.setup()
    n_main = len(dm.datasets["train"]) // 2
    assert len(dm.datasets["train"]) == 2 * n_main and dm.train_weights is not None
    sampler = SeededSampler(len(dm.datasets["train"]), 0, True, dm.train_weights)
    drawn = np.array([i for epoch in range(20) for i, _ in (sampler.set_epoch(epoch) or sampler)])
    share = (drawn >= n_main).mean()
    assert abs(share - 0.75) < 0.05  # weight 3 against the main collection's 1
