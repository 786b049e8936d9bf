"""The result folder every downstream evaluation writes: ``metrics.json`` (protocol + summary + details),
``results.md`` and plots.

``summary`` is a list of rows ``{"dataset", "metric", "fraction", "mean", "std", "n"}`` (mean ± std over seeds):
one results-table cell each, which is what ``cxrvlp report`` lines up across runs.
"""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import numpy as np
import torch

from cxrvlp import __version__


def stats(values: list[float]) -> dict:
    """Mean ± sample std over the finite values (seeds); NaN values are counted as missing, not as zero."""
    v = np.array([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else math.nan, "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "n": int(v.size), "values": [float(x) for x in values]}


def summary_row(dataset: str, metric: str, fraction: str, values: list[float]) -> dict:
    return {"dataset": dataset, "metric": metric, "fraction": fraction, **stats(values)}


def environment() -> dict:
    return {"cxrvlp_version": __version__, "torch": torch.__version__, "python": platform.python_version()}


def fmt_cell(mean: float, std: float = 0.0, n: int = 1, scale: float = 100.0) -> str:
    """``87.6 ± 0.4`` (metrics in [0, 1] are shown ×100 as in the papers); ``n/a`` for a missing value."""
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean * scale:.1f} ± {std * scale:.1f}" if n > 1 else f"{mean * scale:.1f}"


def summary_markdown(summary: list[dict], title: str = "") -> str:
    """One row per (dataset, metric), one column per label fraction."""
    fractions = sorted({r["fraction"] for r in summary}, key=_fraction_order)
    keys = list(dict.fromkeys((r["dataset"], r["metric"]) for r in summary))
    cell = {(r["dataset"], r["metric"], r["fraction"]): r for r in summary}
    lines = [f"### {title}", ""] if title else []
    lines += ["| data set | metric | " + " | ".join(fractions) + " |", "|---|---|" + "---:|" * len(fractions)]
    for ds, metric in keys:
        cells = [cell.get((ds, metric, f)) for f in fractions]
        lines.append(f"| {ds} | {metric} | " + " | ".join(
            fmt_cell(c["mean"], c["std"], c["n"]) if c else "" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _fraction_order(f: str) -> float:
    try:
        return float(f.rstrip("%"))
    except ValueError:
        return math.inf


def write_run(out_dir: str | Path, results: dict, markdown: str) -> dict[str, str]:
    """Write ``metrics.json`` and ``results.md``; return every file in the folder by name (plots included)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown)
    files = {p.stem: str(p) for p in sorted(out.iterdir()) if p.is_file()}
    files["metrics"] = str(out / "metrics.json")
    results["files"] = files
    (out / "metrics.json").write_text(json.dumps(results, indent=2, default=_json_default))
    return files


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def protocol(task: str, source, data, **extra) -> dict:
    """What produced a result: the task, the encoder (checkpoint SHA-256 or reference init), preprocessing, the
    data (adapter, root, split sizes and study-id hashes, skipped inputs) and the software versions."""
    return {"task": task, "encoder": source.identity, "row": source.label,
            "preprocess": source.preprocess.as_dict(), **data.describe(), **extra, **environment()}


def text_task_summary(dataset: str, results: dict) -> list[dict]:
    """Summary rows of a zero-shot / retrieval result (no label fraction: ``—``)."""
    rows = []
    zs = results.get("zero_shot")
    if zs:
        rows.append(summary_row(dataset, "zero-shot AUROC (mean)", "—", [zs["mean_auroc"]]))
    for name, r in (results.get("retrieval") or {}).items():
        direction = name.split("@")[0].replace("_to_", "→")
        rows += [summary_row(dataset, f"{direction} R@{k} (pool {r['pool_size']})", "—", [v])
                 for k, v in r["recall"].items()]
        la = r.get("label_aware")
        if la:
            rows += [summary_row(dataset, f"{direction} label-aware P@{k} (pool {r['pool_size']})", "—", [v])
                     for k, v in la["precision"].items()]
            rows.append(summary_row(dataset, f"{direction} label-aware mAP (pool {r['pool_size']})", "—",
                                    [la["map"]]))
    return rows
