"""``report_findings``: the report labeler's finding vector of each report (:mod:`cxrvlp.text.labeler`), for losses
that compare what reports say (SISTA's SIA).

Adds ``report_findings [B, F]`` (float): 1 where the report states the observation, 0 where it negates or does not
mention it; an uncertain mention counts as ``uncertain`` says (default 1, as the U-Ones policy). "No Finding" is
left out, so two normal reports have the same (empty) vector. The order is :data:`FINDINGS`.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from cxrvlp.data.targets import TargetContext, register_target
from cxrvlp.text.labeler import RuleLabeler, Status
from cxrvlp.text.lexicon import NO_FINDING, OBSERVATIONS

FINDINGS = tuple(name for name in OBSERVATIONS if name != NO_FINDING)
_LABELER = RuleLabeler()


@lru_cache(maxsize=65536)
def _statuses(text: str) -> tuple[Status, ...]:
    labels = _LABELER.label(text)
    return tuple(labels[name] for name in FINDINGS)


@register_target("report_findings")
class ReportFindings:
    keys = ("report_findings",)
    needs_offsets = False

    def __init__(self, context: TargetContext, uncertain: float = 1.0):
        if not 0.0 <= uncertain <= 1.0:
            raise ValueError(f"report_findings: uncertain must be in [0, 1], got {uncertain}")
        self.value = {Status.POSITIVE: 1.0, Status.UNCERTAIN: float(uncertain), Status.NEGATIVE: 0.0,
                      Status.ABSENT: 0.0}

    def __call__(self, batch: dict, encoding: dict, rngs) -> dict[str, torch.Tensor]:
        rows = [[self.value[s] for s in _statuses(text)] for text in batch["text"]]
        return {"report_findings": torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(FINDINGS))}
