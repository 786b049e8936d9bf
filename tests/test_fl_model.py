"""F-L model pieces: pathology-aware masking, key-token selection (each study against its own report), and the
model on a batch that mixes studies with and without a lateral view and reports of different lengths."""
import numpy as np
import pytest
import torch

from _batches import with_targets
from cxrvlp.encoders import build_text_encoder
from cxrvlp.layers.aggregation import TokenAggregation
from cxrvlp.methods import build_model
from cxrvlp.methods import fl as fl_module
from cxrvlp.methods.fl_modules import select_key_tokens
from cxrvlp.methods.loading import build_pretraining
from cxrvlp.optim import param_groups
from cxrvlp.recipe import load_recipe
from cxrvlp.text.masking import (
    IGNORE_INDEX,
    MaskingProbabilities,
    PathologyAwareMasker,
    pathology_spans,
    word_mask_probabilities,
)

REPORTS = ["Small left pleural effusion. No pneumothorax.", "Heart size is normal.",
           "Retrocardiac opacity seen only on the lateral view.", "The lungs are clear."]


@pytest.fixture(scope="module")
def tokenizer():
    return build_text_encoder({"name": "tiny_bert"}).tokenizer


# -- masking -------------------------------------------------------------------------------------------------------
def test_word_probabilities_follow_the_lexicon():
    text = "Small effusion."
    spans = [(0, 5), (6, 14), (14, 15)]
    probs = MaskingProbabilities(pathology=0.9, other=0.2, other_without_pathology=0.4)
    assert pathology_spans(text) == ((6, 14),)
    np.testing.assert_allclose(word_mask_probabilities(text, spans, probs), [0.2, 0.9, 0.2])
    np.testing.assert_allclose(word_mask_probabilities("Heart is normal.", [(0, 5)], probs), [0.4])
    with pytest.raises(ValueError):
        MaskingProbabilities(pathology=1.5)


def test_masking_rates_whole_words_and_reproducibility(tokenizer):
    masker = PathologyAwareMasker(tokenizer, tokenizer.mask_token_id, MaskingProbabilities(), seed=7)
    enc = tokenizer(REPORTS[:2], padding="longest", return_tensors="pt")
    ids, am = enc["input_ids"], enc["attention_mask"]
    words = tokenizer(REPORTS[0]).word_ids()
    effusion = [i for i, w in enumerate(words) if w == 3]  # "small left pleural effusion": word 3
    hits = {"effusion": 0, "small": 0, "heart": 0}
    epochs = 600
    for epoch in range(epochs):
        masked, labels = masker(ids, am, REPORTS[:2], ["s1", "s2"], epoch)
        assert (masked[am == 0] == ids[am == 0]).all() and (masked[:, 0] == ids[:, 0]).all()  # padding, [CLS]
        where = labels != IGNORE_INDEX
        assert (masked[where] == tokenizer.mask_token_id).all() and (labels[where] == ids[where]).all()
        assert len(set(where[0, effusion].tolist())) == 1  # all pieces of a word together
        hits["effusion"] += int(where[0, effusion[0]])
        hits["small"] += int(where[0, 1])
        hits["heart"] += int(where[1, 1])  # a report without pathology terms: 0.70
    assert abs(hits["effusion"] / epochs - 0.75) < 0.06
    assert abs(hits["small"] / epochs - 0.65) < 0.06
    assert abs(hits["heart"] / epochs - 0.70) < 0.06
    # a study's mask depends on (seed, study, epoch) only, not on its batch
    alone, _ = masker(ids[1:], am[1:], REPORTS[1:2], ["s2"], 3)
    both, _ = masker(ids, am, REPORTS[:2], ["s1", "s2"], 3)
    assert torch.equal(alone[0], both[1, : alone.shape[1]])
    assert not torch.equal(masker(ids, am, REPORTS[:2], ["s1", "s2"], 4)[0], both)
    with pytest.raises(ValueError, match="not this tokenizer's encoding"):
        masker(ids, am, REPORTS[2:4], ["s1", "s2"], 0)


# -- key tokens ----------------------------------------------------------------------------------------------------
def test_select_key_tokens_hand_computed():
    # one study, 4 image tokens of which the last is absent; report mean along x
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]])
    mask = torch.tensor([[True, True, True, False]])
    text = torch.tensor([[[2.0, 0.0]]])
    key = select_key_tokens(tokens, mask, text, torch.tensor([[True]]), fraction=0.5)
    # image mean (2/3, 2/3): cos = [0.707, 0.707, 1]; text (1, 0): cos = [1, 0, 0.707]
    r = 2 ** -0.5
    torch.testing.assert_close(key.scores[0, :3], torch.tensor([r + 1, r, 1 + r]))
    assert key.scores[0, 3] == float("-inf")
    assert key.kept.tolist() == [[True, False, True, False]]  # ceil(0.5 * 3) = 2 kept, absent never
    torch.testing.assert_close(key.merged[0], tokens[0, 1])  # the only left-over token
    assert key.merged_mask.tolist() == [True] and key.mask.tolist() == [[True, True]]


def test_token_aggregation_ignores_absent_tokens():
    agg = TokenAggregation(dim=4, num_tokens=3)
    x = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    out = agg(x, mask)
    y = x.clone()
    y[0, 3:] = 100.0
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(agg(y, mask)[0], out[0])


# -- the model ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pretraining():
    torch.manual_seed(0)
    model, objectives = build_pretraining(load_recipe("fl-tiny"))
    return model.eval(), objectives


@pytest.fixture(scope="module")
def model(pretraining):
    return pretraining[0]


@pytest.fixture(scope="module")
def objectives(pretraining):
    return pretraining[1]


def _batch(model, reports=REPORTS, seed=0):
    g = torch.Generator().manual_seed(seed)
    tok = model.text_encoder.tokenize(list(reports))
    return with_targets({"frontal": torch.randn(4, 1, 64, 64, generator=g),
                         "lateral": torch.randn(2, 1, 64, 64, generator=g), "lateral_index": torch.tensor([3, 1]),
                         "has_lateral": torch.tensor([False, True, False, True]), **tok, "text": list(reports),
                         "study_id": ["a", "b", "c", "d"]}, model)


def _selections(model, batch):
    seen = []
    real = fl_module.select_key_tokens
    fl_module.select_key_tokens = lambda *a, **k: seen.append(real(*a, **k)) or seen[-1]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        fl_module.select_key_tokens = real
    return seen[0]


def test_key_selection_of_a_study_depends_on_its_own_report_only(model):
    base = _batch(model)
    ref = _selections(model, base)
    other = list(REPORTS)
    other[3] = "Large right pneumothorax with a visible pleural line. Enlarged heart."
    changed_j = _selections(model, _batch(model, other))
    for i in range(3):  # report 3 changed: studies 0-2 select exactly as before
        torch.testing.assert_close(changed_j.scores[i], ref.scores[i])
        assert torch.equal(changed_j.kept[i], ref.kept[i])
    assert not torch.allclose(changed_j.scores[3], ref.scores[3])
    kept_changed = False
    for text in ("Edema.", "Nodule in the left upper lobe.", "Support devices are in place.", "No effusion.",
                 "Moderate cardiomegaly with mild interstitial edema.", "Right apical pneumothorax."):
        own = list(REPORTS)
        own[1] = text
        sel = _selections(model, _batch(model, own))
        assert not torch.allclose(sel.scores[1][sel.kept[1]], ref.scores[1][sel.kept[1]])
        kept_changed |= not torch.equal(sel.kept[1], ref.kept[1])
    assert kept_changed  # changing study 1's own report can change which of its tokens are kept


def test_mixed_batch_outputs_masks_and_a_lateral_global_that_depends_on_the_image(model, objectives):
    batch = _batch(model)
    with torch.no_grad():
        out = model(batch)
    assert out["lateral_mask"].tolist() == [False, True, False, True]
    assert out["lateral_emb"][[0, 2]].abs().sum() == 0
    assert out["fla_frontal"].shape[0] == 2 and torch.equal(out["fla_mask"], out["text_mask"][[3, 1]])
    assert out["mlm_logits"].shape == (out["mlm_targets"].numel(), model.text_encoder.vocab_size)
    # F-L's code made the lateral global a constant; here it follows the image
    assert not torch.allclose(out["lateral_emb"][1], out["lateral_emb"][3])
    other = dict(batch, lateral=torch.randn(2, 1, 64, 64))
    with torch.no_grad():
        out2 = model(other)
    assert not torch.allclose(out2["lateral_emb"][1], out["lateral_emb"][1])
    torch.testing.assert_close(out2["image_emb"], out["image_emb"])
    torch.testing.assert_close(out2["fused_emb"][[0, 2]], out["fused_emb"][[0, 2]])  # single-view studies
    # masks are reproducible: the same batch masks the same words
    torch.testing.assert_close(out2["mlm_targets"], out["mlm_targets"])
    terms = {name: objective(out, batch) for name, objective in objectives.items()}
    assert set(terms) == {"itc", "mlm", "fla", "hsa"} and all(torch.isfinite(v) for v in terms.values())


def test_batch_without_laterals_trains_every_term_it_can(model, objectives):
    batch = dict(_batch(model), lateral=torch.zeros(0, 1, 64, 64), lateral_index=torch.zeros(0, dtype=torch.long),
                 has_lateral=torch.zeros(4, dtype=torch.bool))
    model.train()
    try:
        out = model(batch)
        terms = {name: objective(out, batch) for name, objective in objectives.items()}
        sum(terms.values()).backward()
    finally:
        model.zero_grad()
        model.eval()
    assert terms["fla"].item() == 0.0 and terms["mlm"].item() > 0 and terms["itc"].item() > 0
    assert out["fla_frontal"].shape[0] == 0


def test_options_frozen_or_shared_lateral_and_lr_groups():
    frozen = build_model(load_recipe("fl-tiny", ["model_options.freeze_lateral=true"]).to_dict())
    frozen.train()
    assert not frozen.lateral_encoder.training and frozen.image_encoder.training
    assert not any(p.requires_grad for p in frozen.lateral_encoder.parameters())
    shared = build_model(load_recipe("fl-tiny", ["model_options.share_encoders=true",
                                                 "model_options.lateral_encoder=null"]).to_dict())
    assert shared.lateral_encoder is None and shared.lateral_view_encoder is shared.image_encoder
    with pytest.raises(ValueError, match="share_encoders"):
        build_model(load_recipe("fl-tiny", ["model_options.share_encoders=true"]).to_dict())
    with pytest.raises(KeyError, match="unknown model_options"):
        build_model(load_recipe("fl-tiny", ["model_options.keyfraction=0.5"]).to_dict())
    groups = param_groups(frozen, frozen.cfg.optim)
    fast = {id(p) for g in groups if g["lr"] == pytest.approx(5 * frozen.cfg.optim.lr) for p in g["params"]}
    names = {n for n, p in frozen.named_parameters() if id(p) in fast}
    assert names and all("cross_attn" in n or "mlm_head" in n for n in names)
    assert any(n.startswith("mlm_head") for n in names) and any(n.startswith("fla_decoder.cross_attn") for n in names)
    ablated, ablated_objectives = build_pretraining(load_recipe("fl-tiny", ["objectives.mlm.enabled=false",
                                                                            "objectives.fla.enabled=false"]))
    assert ablated.mlm_head is None and ablated.fla_decoder is None and set(ablated_objectives) == {"itc", "hsa"}
