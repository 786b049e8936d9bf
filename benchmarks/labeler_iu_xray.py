"""Rule labeler vs the IU X-Ray MeSH labels: per-observation precision / recall / F1 / support and speed, as JSON.

    python benchmarks/labeler_iu_xray.py [--data ../shared/data/iu_xray_reports]
    python benchmarks/labeler_iu_xray.py --errors "Lung Opacity" --limit 20   # print misses to study the rules

Positive means: labeler positive or uncertain, compared with the observation being named by the MeSH terms
(mapping in ``cxrvlp.text.iu_mesh``). Text labelled: findings + impression.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from cxrvlp.text.iu_mesh import mesh_observations, predicted_present, read_iu_reports, score_against_mesh
from cxrvlp.text.labeler import RuleLabeler

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "iu_xray_reports"


def print_errors(reports, labeler: RuleLabeler, observation: str, limit: int) -> None:
    """False positives and false negatives for one observation, with the mention decisions that led to them."""
    shown = {"false positive": 0, "false negative": 0}
    for report in reports:
        truth = mesh_observations(report.mesh)
        if truth is None or not report.text:
            continue
        labels = labeler.label(report.text)
        said, true = predicted_present(labels, observation), observation in truth
        kind = "false positive" if said and not true else "false negative" if true and not said else None
        if kind is None or shown[kind] >= limit:
            continue
        shown[kind] += 1
        decisions = [(m.mention.text, m.status.value, m.rule, m.cue.text if m.cue else None)
                     for m in labels.observations[observation].mentions]
        print(f"--- {kind} study {report.study_id}  MeSH={list(report.mesh)}\n{report.text}\n  {decisions}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the iu_xray_reports folder")
    parser.add_argument("--errors", metavar="OBSERVATION", help="print misses for this observation instead")
    parser.add_argument("--limit", type=int, default=15, help="misses of each kind to print with --errors")
    args = parser.parse_args()

    reports = read_iu_reports(args.data / "studies.jsonl")
    labeler = RuleLabeler()
    if args.errors:
        print_errors(reports, labeler, args.errors, args.limit)
        return
    labeler.label("warm-up: compiles the lexicon's patterns once")
    start = time.perf_counter()
    result = score_against_mesh(reports, labeler)
    seconds = time.perf_counter() - start
    result["speed"] = {"seconds": round(seconds, 3), "reports_per_second": round(result["reports"] / seconds, 1),
                       "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
