"""``report_graph``: each report's concept graph (:mod:`cxrvlp.text.concept_graph`) as tensors over fixed node
vocabularies, with token masks into the tokenised report (CGA's text graph is pooled from them).

Adds, with ``A = len(ANATOMY_NODES)`` and ``P = len(PATHOLOGY_NODES)`` (the lexicon's pathology terms):
- ``anatomy_mentioned [B, A]`` and ``anatomy_tokens [B, A, T]``: the nodes the report names and the tokens of their
  mentions (a node implied by a pathology, "left effusion" → left lung, takes the pathology's tokens);
- ``pathology_positive [B, P]`` and ``pathology_tokens [B, P, T]``: the pathology terms stated as present (negated
  and uncertain ones are left out: a normal report has no pathology node) and their tokens;
- ``located_at [B, P, A]``: the located_at relations between those.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from cxrvlp.data.targets import TargetContext, register_target
from cxrvlp.text.concept_graph import ANATOMY_NODES, extract_graph
from cxrvlp.text.lexicon import PATHOLOGY_TERMS

PATHOLOGY_NODES = tuple(PATHOLOGY_TERMS)


@lru_cache(maxsize=65536)
def _graph(text: str):
    """The graph of a report, computed once per process (a corpus repeats its reports every epoch; read-only)."""
    return extract_graph(text)


def _tokens(offsets: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """``[T]`` bool: the tokens whose characters overlap ``[start, end)`` (special tokens have empty offsets)."""
    s, e = offsets[:, 0], offsets[:, 1]
    return (e > s) & (s < end) & (e > start)


@register_target("report_graph")
class ReportGraphTarget:
    keys = ("anatomy_mentioned", "anatomy_tokens", "pathology_positive", "pathology_tokens", "located_at")
    needs_offsets = True

    def __init__(self, context: TargetContext):
        self.anatomy = {n: i for i, n in enumerate(ANATOMY_NODES)}
        self.pathology = {n: i for i, n in enumerate(PATHOLOGY_NODES)}

    def __call__(self, batch: dict, encoding: dict, rngs) -> dict[str, torch.Tensor]:
        b, t = batch["input_ids"].shape
        a, p = len(self.anatomy), len(self.pathology)
        out = {"anatomy_mentioned": torch.zeros(b, a, dtype=torch.bool),
               "anatomy_tokens": torch.zeros(b, a, t, dtype=torch.bool),
               "pathology_positive": torch.zeros(b, p, dtype=torch.bool),
               "pathology_tokens": torch.zeros(b, p, t, dtype=torch.bool),
               "located_at": torch.zeros(b, p, a, dtype=torch.bool)}
        for i, text in enumerate(batch["text"]):
            graph = _graph(text)
            offsets = encoding["offsets"][i]
            for e in graph.entities:
                if e.kind == "anatomy" and e.name in self.anatomy:
                    out["anatomy_mentioned"][i, self.anatomy[e.name]] = True
                    out["anatomy_tokens"][i, self.anatomy[e.name]] |= _tokens(offsets, e.start, e.end)
                elif e.kind == "pathology" and e.status == "positive" and e.name in self.pathology:
                    out["pathology_positive"][i, self.pathology[e.name]] = True
                    out["pathology_tokens"][i, self.pathology[e.name]] |= _tokens(offsets, e.start, e.end)
            for r in graph.relations:
                head, tail = graph.entities[r.head], graph.entities[r.tail]
                if r.kind == "located_at" and head.status == "positive" and head.name in self.pathology \
                        and tail.name in self.anatomy:
                    out["located_at"][i, self.pathology[head.name], self.anatomy[tail.name]] = True
        return out
