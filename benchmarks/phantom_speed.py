"""Phantom generation speed: studies per second for N studies with 1 and 2 worker processes.

    python benchmarks/phantom_speed.py --studies 300 --size 256

Prints one JSON object. Each run is a full ``generate`` call into a fresh temporary folder (process start-up,
rendering of both views, masks, reports and every file included). ``cpu_s_per_study`` is the parent's CPU time
for one worker (a load-independent figure when the machine is shared); ``load_avg`` shows how busy it was.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from cxrvlp.phantom import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (default: 1,2)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp) / "warm", 2, seed=args.seed, image_size=args.size, progress=False)  # imports, caches
        runs = []
        for w in (int(x) for x in args.workers.split(",")):
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            generate(Path(tmp) / f"w{w}", args.studies, seed=args.seed, image_size=args.size, workers=w,
                     progress=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            run = {"workers": w, "seconds": round(wall, 2), "studies_per_s": round(args.studies / wall, 1),
                   "load_avg_before": round(load, 2)}
            if w == 1:
                run["cpu_ms_per_study"] = round(1000 * cpu / args.studies, 1)
            runs.append(run)
    print(json.dumps({"benchmark": "phantom_speed", "n_studies": args.studies, "image_size": args.size,
                      "views": "PA + lateral (lateral_fraction 0.8)", "cpu_count": os.cpu_count(),
                      "python": platform.python_version(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
