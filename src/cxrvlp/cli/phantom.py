"""``cxrvlp phantom``: generate procedural chest X-ray studies in the MIMIC-CXR-JPG layout."""
from __future__ import annotations

import argparse
import sys
import time


def register(sub) -> None:
    p = sub.add_parser(
        "phantom", help="generate phantom chest X-ray studies (PA + lateral JPEGs, reports, labels, masks)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Generate N studies of a procedural 3-D chest phantom, projected into PA and lateral radiographs, "
        "with free-text reports, CheXpert-style labels read from the reports, the true labels, and per-view finding "
        "boxes and masks. The output has MIMIC-CXR-JPG 2.x file and column names:\n"
        "  files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg, files/.../sNNNNNNNN.txt,\n"
        "  mimic-cxr-2.0.0-{metadata,split,chexpert}.csv, phantom_ground_truth.jsonl, masks/, "
        "phantom_manifest.json\n"
        "The same --seed gives byte-identical files whatever --workers is. Re-running the same command into the "
        "same folder regenerates it; a folder holding anything else is refused.\n"
        "  cxrvlp phantom --out runs/phantom --studies 1500 --seed 0 --workers 2")
    p.add_argument("--out", required=True, help="output folder (new, empty, or a previous run of the same settings)")
    p.add_argument("--studies", type=int, required=True, help="number of studies (a patient has 1-3 of them)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--size", type=int, default=256, help="image height in pixels; widths are 0.86-1.0 of it "
                   "(default: 256)")
    p.add_argument("--workers", type=int, default=1, help="generation processes (default: 1)")
    p.add_argument("--lateral-fraction", type=float, default=0.8,
                   help="share of studies that also have a lateral view (default: 0.8)")
    p.add_argument("--normal-fraction", type=float, default=0.4,
                   help="share of studies without any finding (default: 0.4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from cxrvlp.phantom import generate

    t0 = time.perf_counter()
    try:
        out = generate(args.out, args.studies, seed=args.seed, image_size=args.size,
                       lateral_fraction=args.lateral_fraction, normal_fraction=args.normal_fraction,
                       workers=args.workers, progress=not args.no_progress)
    except (FileExistsError, NotADirectoryError) as e:
        print(f"cxrvlp phantom: error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    print(f"wrote {args.studies} studies to {out} in {dt:.1f} s ({args.studies / dt:.1f} studies/s)")
    return 0
