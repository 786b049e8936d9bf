"""Batches made by hand for model tests, with the recipe's batch targets drawn as the data pipeline draws them."""
from __future__ import annotations

from cxrvlp.data.targets import TargetContext, apply_targets, build_targets
from cxrvlp.text.tokenize import Tokenize


def with_targets(batch: dict, model, seeds=None) -> dict:
    """``batch`` (with ``text``) plus the targets of ``model.cfg.data.targets``, tokenised as the collate does."""
    targets = build_targets(model.cfg.data.targets, TargetContext(model.text_encoder.tokenizer))
    if not targets:
        return batch
    encoding = Tokenize(model.text_encoder.tokenizer)(batch["text"], model.text_encoder.max_length, offsets=True)
    seeds = list(range(len(batch["text"]))) if seeds is None else seeds
    return apply_targets(targets, dict(batch), encoding, seeds)
