"""The report_graph batch target: a report's concept graph as node, token and relation tensors."""

from cxrvlp.data.targets import TargetContext, build_targets, item_rngs
from cxrvlp.data.targets.report_graph import PATHOLOGY_NODES
from cxrvlp.encoders import build_text_encoder
from cxrvlp.text.concept_graph import ANATOMY_NODES
from cxrvlp.text.tokenize import Tokenize

TEXTS = ["Small left pleural effusion. No pneumothorax.", "The lungs are clear.", ""]


def test_report_graph_tensors():
    tokenizer = build_text_encoder({"name": "tiny_bert"}).tokenizer
    (target,) = build_targets(["report_graph"], TargetContext(tokenizer))
    enc = Tokenize(tokenizer)(TEXTS, 48, offsets=True)
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "text": TEXTS}
    out = target(batch, enc, item_rngs([0, 1, 2], "report_graph"))
    effusion, pneumothorax = PATHOLOGY_NODES.index("effusion"), PATHOLOGY_NODES.index("pneumothorax")
    left_lung = ANATOMY_NODES.index("left lung")
    assert out["pathology_positive"][0].nonzero().flatten().tolist() == [effusion]  # the negated one is no node
    assert not out["pathology_positive"][0, pneumothorax]
    assert out["located_at"][0, effusion].nonzero().flatten().tolist() == [left_lung]
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][0][out["pathology_tokens"][0, effusion]])
    assert "".join(p.removeprefix("##") for p in pieces) == "effusion"
    assert not out["pathology_positive"][1].any() and out["anatomy_mentioned"][1].sum() == 2  # both lungs
    assert not any(v[2].any() for v in out.values())  # an empty report: an empty graph
    assert out["anatomy_tokens"].shape == (3, len(ANATOMY_NODES), enc["input_ids"].shape[1])
    assert not (out["pathology_tokens"] & ~enc["attention_mask"].bool()[:, None, :]).any()
