"""Result files: metrics JSON (with the protocol that produced them), a Markdown table, and plots."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def markdown_table(results: dict) -> str:
    """Zero-shot AUROC per finding, retrieval recalls and the label-aware precision / mAP as Markdown."""
    lines = []
    zs = results.get("zero_shot")
    if zs:
        lines += ["| finding | positives | AUROC |", "|---|---:|---:|"]
        for name, row in zs["per_label"].items():
            lines.append(f"| {name} | {row['positives']} | {_fmt(row['auroc'])} |")
        lines.append(f"| **mean** | | **{_fmt(zs['mean_auroc'])}** |")
        lines.append("")
    rt = results.get("retrieval")
    if rt:
        ks = sorted({int(k) for d in rt.values() for k in d["recall"]})
        lines += ["| retrieval | pool | " + " | ".join(f"R@{k}" for k in ks) + " |",
                  "|---|---:|" + "---:|" * len(ks)]
        for name, d in rt.items():
            lines.append(f"| {name} | {d['pool_size']} | " + " | ".join(_fmt(d['recall'][str(k)]) for k in ks) + " |")
        aware = {name: d for name, d in rt.items() if d.get("label_aware")}
        if aware:  # the same pools, a hit being any report with the query's finding set
            pk = sorted({int(k) for d in aware.values() for k in d["label_aware"]["precision"]})
            lines += ["", "| label-aware retrieval | pool | " + " | ".join(f"P@{k}" for k in pk) + " | mAP | chance |",
                      "|---|---:|" + "---:|" * (len(pk) + 2)]
            for name, d in aware.items():
                la = d["label_aware"]
                lines.append(f"| {name} | {d['pool_size']} | " + " | ".join(_fmt(la["precision"][str(k)]) for k in pk)
                             + f" | {_fmt(la['map'])} | {_fmt(la['chance'])} |")
    return "\n".join(lines) + "\n"


def roc_plot(curves: dict[str, tuple], aucs: dict[str, float], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    for name, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} ({_fmt(aucs[name])})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_results(results: dict, out_dir: Path, curves: dict | None = None) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "metrics.json", "markdown": out_dir / "results.md"}
    paths["json"].write_text(json.dumps(results, indent=2, default=str))
    paths["markdown"].write_text(markdown_table(results))
    if curves:
        aucs = {k: v["auroc"] for k, v in results["zero_shot"]["per_label"].items()}
        paths["roc"] = out_dir / "roc_zero_shot.png"
        roc_plot(curves, aucs, paths["roc"], f"zero-shot ROC ({results['protocol']['split']} split)")
    return paths
