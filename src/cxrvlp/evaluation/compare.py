"""Several evaluation runs side by side: one row per (data set, metric, label fraction), one column per model, the
layout of a paper's results table. Runs are read from their ``metrics.json`` ``summary`` rows; runs of the same
model (``protocol.row``) over different tasks merge into one column."""
from __future__ import annotations

import json
from pathlib import Path

from cxrvlp.evaluation.encoder_source import model_label
from cxrvlp.evaluation.results import _fraction_order, fmt_cell


def find_runs(paths: list[str | Path]) -> list[Path]:
    """``metrics.json`` files: each path is such a file, a run folder, or a folder of run folders (searched)."""
    found = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif (p / "metrics.json").is_file():
            found.append(p / "metrics.json")
        elif p.is_dir():
            found.extend(sorted(p.rglob("metrics.json")))
        else:
            raise FileNotFoundError(f"{p}: no such run folder or metrics.json")
    if not found:
        raise FileNotFoundError(f"no metrics.json under {', '.join(map(str, paths))}")
    return found


def load_rows(path: Path) -> tuple[str, list[dict]]:
    """``(model name, summary rows)`` of one ``metrics.json``."""
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}, line {e.lineno}: not valid JSON ({e.msg})") from e
    proto = results.get("protocol", {})
    if "summary" not in results:
        raise ValueError(f"{path}: no 'summary' rows (written by an older cxrvlp?); re-run the evaluation")
    if proto.get("row"):
        name = proto["row"]
    elif proto.get("checkpoint_sha256"):  # zero-shot / retrieval results name their checkpoint directly
        name = model_label({"init": "checkpoint", **{k: proto[k] for k in ("checkpoint", "checkpoint_sha256",
                                                                          "recipe")}})
    else:
        name = path.parent.name
    return name, results["summary"]


def comparison_table(paths: list[str | Path]) -> str:
    cells: dict[tuple[str, str, str], dict[str, dict]] = {}
    models: list[str] = []
    for path in find_runs(paths):
        model, rows = load_rows(path)
        if model not in models:
            models.append(model)
        for r in rows:
            cells.setdefault((r["dataset"], r["metric"], r["fraction"]), {})[model] = r
    keys = sorted(cells, key=lambda k: (_first_seen(cells, k), _fraction_order(k[2])))
    lines = ["| data set | metric | labels | " + " | ".join(models) + " |", "|---|---|---:|" + "---:|" * len(models)]
    for key in keys:
        row = [fmt_cell(c["mean"], c["std"], c["n"]) if (c := cells[key].get(m)) else "" for m in models]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _first_seen(cells: dict, key: tuple) -> int:
    order = list(dict.fromkeys((k[0], k[1]) for k in cells))
    return order.index((key[0], key[1]))
