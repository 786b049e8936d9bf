"""Where a model looks for a phrase (``cxrvlp explain``): the phrase's word-to-patch map over each view the model
encodes, for every recipe with local features, plus F-L's key-patch scores.

- **word-to-patch map**: ``model.word_patch_maps(batch)`` (:mod:`cxrvlp.methods.maps`: the recipe's own word→patch
  attention where it has one, else the cosine similarity of word and patch embeddings), averaged over the words of
  the phrase (special tokens left out): :math:`M = \\frac{1}{|W|} \\sum_{w \\in W} A_w` on the view's patch grid,
  the map that ``cxrvlp evaluate grounding`` scores (:mod:`cxrvlp.evaluation.grounding_eval`);
- **key-patch score** (F-L only) of an image token: F-L's selection score against the phrase,
  :math:`\\cos(x_n, \\bar x) + \\cos(x_n, \\bar w)` (:func:`cxrvlp.methods.fl_modules.key_token_scores`), with the
  tokens the MLM branch would keep (top ``key_fraction`` of the study).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cxrvlp.data.assemble import normalise_view
from cxrvlp.data.mimic_cxr import METADATA
from cxrvlp.data.study import view_kind
from cxrvlp.data.tables import read_rows
from cxrvlp.data.transforms import Preprocess, apply, load_gray
from cxrvlp.methods.fl_modules import select_key_tokens


@dataclass
class ViewMap:
    """Maps of one view on its patch grid: ``map`` (the phrase's word-to-patch map, ``[h, w]``) and, for F-L,
    ``scores`` (key-patch score) and ``kept`` (selected as key token), else ``None``; ``image`` is the
    preprocessed view in [0, 1]."""

    name: str
    image: np.ndarray
    map: np.ndarray
    scores: np.ndarray | None = None
    kept: np.ndarray | None = None


def has_local_features(model) -> bool:
    return callable(getattr(model, "word_patch_maps", None))


def _grid(x: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    return x.reshape(grid).float().cpu().numpy()


def _shown(image: torch.Tensor) -> np.ndarray:
    x = image[0, 0].float().cpu().numpy()
    return (x - x.min()) / max(float(np.ptp(x)), 1e-8)


@torch.no_grad()
def ground_phrase(model, frontal: torch.Tensor, lateral: torch.Tensor | None, phrase: str) -> list[ViewMap]:
    """``frontal``, ``lateral``: preprocessed ``[1, C, H, W]`` images of one study (``lateral`` may be None).
    Returns a :class:`ViewMap` per view present that the model encodes locally (frontal first); a model without
    local features (no ``word_patch_maps``) is an error."""
    if not has_local_features(model):
        raise ValueError(f"recipe {model.cfg.name} has no local features (model {type(model).__name__} has no "
                         "word_patch_maps): nothing to explain")
    model.eval()
    device = next(model.parameters()).device
    laterals = (lateral if lateral is not None else frontal.new_zeros((0, *frontal.shape[1:]))).to(device)
    tok = model.text_encoder.tokenize([phrase])
    batch = {"frontal": frontal.to(device), "lateral": laterals,
             "lateral_index": torch.arange(laterals.shape[0], device=device),
             "has_lateral": torch.tensor([laterals.shape[0] > 0], device=device),
             "input_ids": tok["input_ids"].to(device), "attention_mask": tok["attention_mask"].to(device),
             "labels": torch.zeros(1, 0, device=device), "index": torch.zeros(1, dtype=torch.long),
             "study_id": ["explain"], "text": [phrase]}
    maps = model.word_patch_maps(batch)
    words = sorted({int(w) for w in maps.word_index[0].tolist() if w >= 0})
    if not words:
        raise ValueError(f"phrase {phrase!r} has no words after tokenisation")
    images = {"frontal": frontal, "lateral": lateral}
    out = []
    for name in ("frontal", "lateral"):
        if name not in maps.views or images[name] is None or not bool(maps.view_mask[name][0]):
            continue
        out.append(ViewMap(name, _shown(images[name]), maps.views[name][0, words].float().mean(dim=0).cpu().numpy()))
    if hasattr(model, "encode_views") and hasattr(model, "key_fraction"):  # F-L: its key-patch selection too
        _add_key_patch_scores(model, batch, out)
    return out


def _add_key_patch_scores(model, batch: dict, maps: list[ViewMap]) -> None:
    views = model.encode_views(batch["frontal"], batch["lateral"], batch["lateral_index"])
    _, words, word_mask = model.encode_report(batch["input_ids"], batch["attention_mask"])
    tokens, token_mask = views.all_tokens()
    key = select_key_tokens(tokens, token_mask, words, word_mask, model.key_fraction)
    n_f = views.frontal_tokens.shape[1]
    where = {"frontal": (slice(0, n_f), views.frontal_grid), "lateral": (slice(n_f, None), views.lateral_grid)}
    for m in maps:
        part, grid = where[m.name]
        m.scores = _grid(key.scores[0, part], grid)
        m.kept = _grid(key.kept[0, part], grid).astype(bool)


def study_images(study_dir: str | Path) -> tuple[Path, Path | None]:
    """The first frontal and lateral image of a MIMIC-CXR-JPG-layout study folder (``.../pXX/pNNN/sNNN``), with
    the views read from the release's metadata CSV in a parent folder."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise FileNotFoundError(f"{study_dir}: no such study folder")
    root = next((p for p in study_dir.parents if (p / METADATA).is_file()), None)
    if root is None:
        raise FileNotFoundError(f"{study_dir}: no {METADATA} in any parent folder to tell the views apart; pass "
                                "--frontal / --lateral instead")
    study_id = study_dir.name.lstrip("s")
    views: dict[str, list[Path]] = {"frontal": [], "lateral": [], "other": []}
    for line, row in read_rows(root / METADATA, {"dicom_id", "study_id", "ViewPosition"}, "MIMIC-CXR-JPG"):
        if row["study_id"] == study_id:
            path = study_dir / f"{row['dicom_id']}.jpg"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing (listed in {root / METADATA}, line {line})")
            views[view_kind(normalise_view(row["ViewPosition"]))].append(path)
    if not views["frontal"]:
        raise ValueError(f"{study_dir}: {root / METADATA} lists no frontal image of study {study_id}")
    return views["frontal"][0], (views["lateral"][0] if views["lateral"] else None)


def load_view(path: str | Path, model) -> torch.Tensor:
    """Preprocess an image file as the model's evaluation does: ``[1, 1, crop, crop]``."""
    cfg, dc = model.cfg, model.image_encoder.data_config
    pre = Preprocess(resize=cfg.data.resize, crop=cfg.data.crop, mean=float(dc["mean"][0]), std=float(dc["std"][0]),
                     augment=False)
    return apply(load_gray(path), pre, train=False)[None]


def plot_grounding(maps: list[ViewMap], phrase: str, out: str | Path) -> Path:
    """A PNG with one column per view: the phrase's word-to-patch map over the image and, for F-L, the key-patch
    scores (tokens left out of the key set crossed; one colour scale for both views, whose tokens compete for one
    key set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_keys = all(m.scores is not None for m in maps)
    rows = 2 if with_keys else 1
    fig, axes = plt.subplots(rows, len(maps), figsize=(4.2 * len(maps), 4.2 * rows), squeeze=False)
    score_range = ((min(float(m.scores.min()) for m in maps), max(float(m.scores.max()) for m in maps))
                   if with_keys else (None, None))
    for col, m in enumerate(maps):
        size = m.image.shape
        panels = [(m.map, "word-to-patch map", (None, None))]
        if with_keys:
            panels.append((m.scores, "key-patch score (x: merged)", score_range))
        for row, (values, title, (vmin, vmax)) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(m.image, cmap="gray", extent=(0, size[1], size[0], 0))
            shown = ax.imshow(values, cmap="inferno", alpha=0.5, extent=(0, size[1], size[0], 0),
                              interpolation="bilinear", vmin=vmin, vmax=vmax)
            if row == 1:  # tokens left out of the key set (merged into one token) are crossed
                gh, gw = m.kept.shape
                ys, xs = np.nonzero(~m.kept)
                ax.scatter((xs + 0.5) * size[1] / gw, (ys + 0.5) * size[0] / gh, marker="x", c="cyan", s=18,
                           linewidths=1.0)
            fig.colorbar(shown, ax=ax, fraction=0.046)
            ax.set_title(f"{m.name}: {title}")
            ax.axis("off")
    fig.suptitle(f"\"{phrase}\"")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
