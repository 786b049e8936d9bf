"""Figures of the downstream results: segmentation and detection overlays on test images, retrieval examples.
(ROC curves: :func:`cxrvlp.evaluation.report.roc_plot`.)"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan", "tab:olive", "tab:pink")


def _grid(n: int, size: float = 2.6):
    cols = min(n, 4)
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)


def _show(ax, image: torch.Tensor, title: str) -> None:
    ax.imshow(image[0].float().numpy(), cmap="gray")
    ax.set_title(title, fontsize=7)


def segmentation_overlays(images: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, classes: tuple[str, ...],
                          titles: list[str], path: Path) -> Path:
    """Test images with the true (solid) and predicted (dashed) outline of each class."""
    fig, axes = _grid(len(images))
    for ax, img, t, p, title in zip(axes, images, truth, pred, titles):
        _show(ax, img, title)
        for k, _ in enumerate(classes):
            colour = COLOURS[k % len(COLOURS)]
            if t[k].any():
                ax.contour(t[k].numpy().astype(float), levels=[0.5], colors=colour, linewidths=1.0)
            if p[k].any():
                ax.contour(p[k].numpy().astype(float), levels=[0.5], colors=colour, linewidths=1.0, linestyles="--")
    fig.legend(handles=[plt.Line2D([], [], color=COLOURS[k % len(COLOURS)], label=c) for k, c in enumerate(classes)],
               loc="lower center", ncol=min(len(classes), 5), fontsize=7)
    fig.suptitle("truth solid, prediction dashed", fontsize=8)
    return _save(fig, path)


def detection_overlays(images: torch.Tensor, truth: list[dict], pred: list[dict], classes: tuple[str, ...],
                       titles: list[str], path: Path, min_score: float = 0.3) -> Path:
    """Test images with true boxes (solid) and predicted boxes scoring ≥ ``min_score`` (dashed, with the score)."""
    fig, axes = _grid(len(images))
    for ax, img, t, p, title in zip(axes, images, truth, pred, titles):
        _show(ax, img, title)
        for box, lab in zip(t["boxes"].tolist(), t["labels"].tolist()):
            ax.add_patch(_rect(box, COLOURS[lab % len(COLOURS)], "-"))
        for box, lab, s in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist()):
            if s >= min_score:
                ax.add_patch(_rect(box, COLOURS[lab % len(COLOURS)], "--"))
                ax.text(box[0], box[1], f"{s:.2f}", color=COLOURS[lab % len(COLOURS)], fontsize=6, va="bottom")
    fig.legend(handles=[plt.Line2D([], [], color=COLOURS[k % len(COLOURS)], label=c) for k, c in enumerate(classes)],
               loc="lower center", ncol=min(len(classes), 5), fontsize=7)
    fig.suptitle(f"truth solid, prediction dashed (score ≥ {min_score})", fontsize=8)
    return _save(fig, path)


def _rect(box, colour: str, style: str) -> Rectangle:
    x0, y0, x1, y1 = box
    return Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.0, linestyle=style)


def retrieval_examples(images: torch.Tensor, texts: list[str], similarity: torch.Tensor, path: Path,
                       n_queries: int = 4, top_k: int = 3) -> Path:
    """Image → report: each query image beside its top-``k`` reports (✓ marks the study's own report)."""
    n = min(n_queries, len(images))
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.6 * n), dpi=100, squeeze=False,
                             gridspec_kw={"width_ratios": [1, 3]})
    for i in range(n):
        _show(axes[i][0], images[i], f"query {i}")
        axes[i][0].axis("off")
        top = torch.topk(similarity[i], min(top_k, similarity.shape[1])).indices.tolist()
        lines = [f"{r + 1}. {'✓' if j == i else '✗'} ({similarity[i, j]:.2f}) " +
                 textwrap.shorten(texts[j], 150) for r, j in enumerate(top)]
        axes[i][1].axis("off")
        axes[i][1].text(0, 1, "\n".join(textwrap.fill(s, 95) for s in lines), va="top", fontsize=7, family="monospace")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pick_examples(n_items: int, n: int = 8) -> np.ndarray:
    """Evenly spaced indices, so figures do not depend on any random state."""
    return np.unique(np.linspace(0, n_items - 1, num=min(n, n_items)).round().astype(int))


def retrieval_figure(studies, preprocess, image_emb: torch.Tensor, text_emb: torch.Tensor, report_sections,
                     path: Path, n_queries: int = 4) -> Path:
    """:func:`retrieval_examples` for the first ``n_queries`` held-out studies against all their reports."""
    from cxrvlp.data.dataset import StudyDataset

    ds = StudyDataset(studies[:n_queries], preprocess, train=False, use_lateral=False)
    images = torch.stack([ds[i]["frontal"] for i in range(len(ds))])
    texts = [s.report_text(tuple(report_sections)) for s in studies]
    return retrieval_examples(images, texts, image_emb[:n_queries] @ text_emb.T, path, n_queries)
