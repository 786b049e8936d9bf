"""Word pieces merged into words: vectorised merge against a loop over the tokens (as GLoRIA/MGCA do it)."""
import pytest
import torch

from cxrvlp.encoders.text import load_tokenizer, minilm_path
from cxrvlp.encoders.words import WordPieceMerger, continuation_table

REPORTS = ["Small left pneumothorax.", "No pleural effusion or cardiomegaly; atelectasis at the bases.",
           "Unremarkable."]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(minilm_path())


def _loop_merge(tokens, mask, features, attention, reduce):
    words, attns, bank, abank = [], [], [], []
    for tok, m, f, a in zip(tokens, mask, features, attention):
        if not m or tok in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if tok.startswith("##") and bank:
            bank.append(f)
            abank.append(a)
            continue
        if bank:
            words.append(torch.stack(bank).sum(0) if reduce == "sum" else torch.stack(bank).mean(0))
            attns.append(sum(abank))
        bank, abank = [f], [a]
    if bank:
        words.append(torch.stack(bank).sum(0) if reduce == "sum" else torch.stack(bank).mean(0))
        attns.append(sum(abank))
    return words, attns


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_merge_matches_token_loop(tokenizer, reduce):
    enc = tokenizer(REPORTS, padding="longest", return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    torch.manual_seed(0)
    feats, attn = torch.randn(*ids.shape, 5), torch.rand(ids.shape)
    word_mask, words, word_attn = WordPieceMerger(tokenizer, reduce)(ids, mask, feats, attn)
    assert word_mask.shape == ids.shape and words.shape == feats.shape
    for b in range(len(REPORTS)):
        tokens = tokenizer.convert_ids_to_tokens(ids[b].tolist())
        ref_words, ref_attn = _loop_merge(tokens, mask[b].tolist(), feats[b], attn[b], reduce)
        n = len(ref_words)
        assert word_mask[b].sum() == n and word_mask[b, :n].all()  # words first, then padding
        torch.testing.assert_close(words[b, :n], torch.stack(ref_words))
        torch.testing.assert_close(word_attn[b, :n], torch.stack(ref_attn))
        assert words[b, n:].abs().sum() == 0
    # "pneumothorax" is several pieces but one word; "." is a word of its own
    assert any(t.startswith("##") for t in tokenizer.tokenize(REPORTS[0]))
    assert word_mask[0].sum() == 4  # small, left, pneumothorax, .


def test_leading_continuation_starts_a_word_and_runs_without_host_sync(tokenizer):
    merger = WordPieceMerger(tokenizer)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    piece = tokenizer.convert_tokens_to_ids("##ax")
    ids = torch.tensor([[cls, piece, piece, sep]])
    word_mask, words, _ = merger(ids, torch.ones_like(ids), torch.ones(1, 4, 2))
    assert word_mask.tolist() == [[True, False, False, False]]
    torch.testing.assert_close(words[0, 0], torch.tensor([2.0, 2.0]))
    # on the meta device any .item()/nonzero/boolean indexing would raise: the merge never syncs with the host
    meta = merger.to("meta")
    out = meta(ids.to("meta"), torch.ones_like(ids, device="meta"), torch.empty(1, 4, 2, device="meta"),
               torch.empty(1, 4, device="meta"))
    assert out[1].shape == (1, 4, 2) and out[2].shape == (1, 4)


def test_piece_conventions():
    assert continuation_table(["[CLS]", "a", "##b", "##"], {0}).tolist() == [False, False, True, False]
    assert continuation_table(["<s>", "\u2581a", "b", "\u2581c"], {0}).tolist() == [False, False, True, False]
    assert continuation_table(["x", "y"], set()).tolist() == [False, False]
    with pytest.raises(ValueError):
        WordPieceMerger(load_tokenizer(minilm_path()), reduce="max")
