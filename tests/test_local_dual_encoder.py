"""The local dual encoder: region / word outputs, [CLS] attentions, text truncation, options, frozen parameters."""
import pytest
import torch

from cxrvlp.methods import MODELS, build_model
from cxrvlp.methods.loading import build_pretraining
from cxrvlp.recipe import load_recipe
from cxrvlp.training.task import PretrainTask

REPORTS = ["Small left pneumothorax.", "No pleural effusion.", "Heart size is enlarged."]


def _batch(model, size=64):
    torch.manual_seed(0)
    return {"frontal": torch.randn(3, 1, size, size), **model.text_encoder.tokenize(REPORTS)}


def test_outputs_words_regions_and_keeps_dual_encoder_outputs():
    model = build_model(load_recipe("gloria-tiny").to_dict())
    out = model(_batch(model))
    for key in ("image_emb", "text_emb", "image_local", "text_tokens", "text_mask"):
        assert key in out
    h, w = model.image_encoder.feature_grid(64)
    n = h * w
    assert out["region_emb"].shape == (3, n, 32) and out["region_mask"].all()
    tokens = [model.text_encoder.tokenizer.tokenize(r) for r in REPORTS]
    words = [sum(not t.startswith("##") for t in toks) for toks in tokens]
    assert out["word_mask"].sum(1).tolist() == words
    assert out["word_attn"] is None and out["region_attn"] is None


def test_cls_attentions_for_words_and_vit_patches():
    cfg = load_recipe("mgca-tiny", ["image_encoder.name=test_vit", "image_encoder.img_size=64"]).to_dict()
    model, objectives = build_pretraining(cfg)
    out = model(_batch(model))
    assert out["region_attn"].shape == out["region_emb"].shape[:2]
    word_attn = out["word_attn"]
    assert (word_attn[~out["word_mask"]] == 0).all() and (word_attn[out["word_mask"]] > 0).all()
    assert (word_attn.sum(1) < 1).all()  # [CLS] and [SEP] attention is not a word's
    sum(o(out) for o in objectives.values()).backward()


def test_text_layers_truncates_and_bad_options_fail():
    cfg = load_recipe("mgca-tiny", ["model_options.text_layers=1"]).to_dict()
    model = build_model(cfg)
    assert model.text_encoder.num_layers == 1
    with pytest.raises(ValueError, match="text_layers"):
        build_model(load_recipe("mgca-tiny", ["model_options.text_layers=5"]).to_dict())
    with pytest.raises(KeyError, match="unknown model_options"):
        build_model(load_recipe("gloria-tiny", ["model_options.typo=1"]).to_dict())
    assert {"local_dual_encoder", "multiview"} <= set(MODELS)


def test_prototypes_get_no_update_in_the_first_epoch():
    task = PretrainTask(load_recipe("mgca-tiny").to_dict())
    model = task.model
    out = model(_batch(model))
    sum(o(out) for o in task.objectives.values()).backward()
    protos = task.objectives["cpa"].loss.prototypes.weight
    assert protos.grad is not None
    task.on_after_backward()  # no trainer attached: epoch 0
    assert protos.grad is None
    assert model.image_proj[0].weight.grad is not None  # the rest still trains
