"""Report concept graphs (CGA's text graph) against the phantom's truth and the IU X-Ray MeSH terms, as JSON.

    python benchmarks/concept_graphs.py                       # 400 phantom studies (seed 0) + IU X-Ray
    python benchmarks/concept_graphs.py --studies 1000 --seed 3 --iu ../shared/data/iu_xray_reports

Precision / recall / F1 of positive pathology entities, anatomy entities and located_at relations (and the same
with uncertain entities counted as present), per concept, and error examples; the scoring is
``cxrvlp.evaluation.concept_graphs`` (docs/cga.md). The phantom is generated at 64 px in a temporary folder (its
reports do not depend on the image size). The IU part is skipped with a note when its folder is absent.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from cxrvlp.evaluation.concept_graphs import evaluate_iu, evaluate_phantom
from cxrvlp.phantom import GENERATOR_VERSION, generate

DEFAULT_IU = Path(__file__).resolve().parents[2] / "shared" / "data" / "iu_xray_reports"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=400, help="phantom studies (0: no phantom)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iu", type=Path, default=DEFAULT_IU, help="the iu_xray_reports folder")
    parser.add_argument("--errors", type=int, default=6, help="error examples of each kind (JSON 'errors')")
    args = parser.parse_args()
    out: dict = {"benchmark": "concept_graphs", "python": platform.python_version()}
    if args.studies:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            root = generate(Path(tmp) / "phantom", args.studies, seed=args.seed, image_size=64, progress=False)
            generated = time.perf_counter() - start
            start = time.perf_counter()
            out["phantom"] = {"generator": GENERATOR_VERSION, "seed": args.seed, **evaluate_phantom(root)}
            out["phantom"]["data"] = (f"phantom of {args.studies} studies, seed {args.seed} "
                                      f"(generated in {generated:.1f} s)")
            out["phantom"]["seconds"] = round(time.perf_counter() - start, 2)
    studies = args.iu / "studies.jsonl"
    if studies.is_file():
        start = time.perf_counter()
        out["iu_xray"] = evaluate_iu(studies)
        out["iu_xray"]["seconds"] = round(time.perf_counter() - start, 2)
    else:
        out["iu_xray"] = {"skipped": f"{studies} is absent"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
