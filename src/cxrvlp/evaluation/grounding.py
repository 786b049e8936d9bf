"""Where an F-L model looks for a phrase: key-patch scores and word-patch attention over both views of a study.

- **key-patch score** of an image token: F-L's selection score against the phrase,
  :math:`\\cos(x_n, \\bar x) + \\cos(x_n, \\bar w)` (:func:`cxrvlp.methods.fl_modules.key_token_scores`), with the
  tokens the MLM branch would keep (top ``key_fraction`` of the study);
- **word-patch attention**: the frontal-lateral query decoder's cross-attention from the phrase's words (special
  tokens left out) to the frontal patches and, separately, to the lateral tokens, averaged over words and heads.
  A model trained without the FLA branch has no decoder; its map is then a softmax over cosine similarities
  (temperature 0.1) between the words and the tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cxrvlp.data.assemble import normalise_view
from cxrvlp.data.mimic_cxr import METADATA
from cxrvlp.data.study import view_kind
from cxrvlp.data.tables import read_rows
from cxrvlp.data.transforms import Preprocess, apply, load_gray
from cxrvlp.layers.attention import cross_attention
from cxrvlp.methods.fl_modules import select_key_tokens

COSINE_ATTENTION_TEMPERATURE = 0.1


@dataclass
class ViewMap:
    """Maps of one view on its token grid: ``scores`` (key-patch score), ``kept`` (selected as key token) and
    ``attention`` (word-patch attention), each ``[h, w]``; ``image`` is the preprocessed view in [0, 1]."""

    name: str
    image: np.ndarray
    scores: np.ndarray
    kept: np.ndarray
    attention: np.ndarray


def _grid(x: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    return x.reshape(grid).float().cpu().numpy()


@torch.no_grad()
def ground_phrase(model, frontal: torch.Tensor, lateral: torch.Tensor | None, phrase: str) -> list[ViewMap]:
    """``frontal``, ``lateral``: preprocessed ``[1, C, H, W]`` images of one study (``lateral`` may be None).
    Returns a :class:`ViewMap` per view present (frontal first)."""
    if not hasattr(model, "encode_views"):
        raise ValueError(f"grounding needs an F-L checkpoint (recipe model 'fl'); this one is "
                         f"{type(model).__name__}")
    model.eval()
    device = next(model.parameters()).device
    laterals = lateral if lateral is not None else frontal.new_zeros((0, *frontal.shape[1:]))
    views = model.encode_views(frontal.to(device), laterals.to(device),
                               torch.arange(laterals.shape[0], device=device))
    tok = model.text_encoder.tokenize([phrase])
    _, words, word_mask = model.encode_report(tok["input_ids"].to(device), tok["attention_mask"].to(device))
    tokens, token_mask = views.all_tokens()
    key = select_key_tokens(tokens, token_mask, words, word_mask, model.key_fraction)
    special = torch.tensor(model.text_encoder.tokenizer.get_special_tokens_mask(
        tok["input_ids"][0].tolist(), already_has_special_tokens=True), dtype=torch.bool, device=device)
    phrase_words = word_mask[0] & ~special
    if not phrase_words.any():
        raise ValueError(f"phrase {phrase!r} has no words after tokenisation")

    n_f = views.frontal_tokens.shape[1]
    parts = [("frontal", views.frontal_tokens, views.frontal_grid, slice(0, n_f), frontal)]
    if lateral is not None:
        parts.append(("lateral", views.lateral_tokens, views.lateral_grid, slice(n_f, None), lateral))
    maps = []
    for name, view_tokens, grid, where, image in parts:
        if model.fla_decoder is not None:
            _, weights = model.fla_decoder(words, word_mask, view_tokens, return_weights=True)
        else:
            _, weights = cross_attention(F.normalize(words, dim=-1), F.normalize(view_tokens, dim=-1),
                                         1.0 / COSINE_ATTENTION_TEMPERATURE)
        attention = weights[0, phrase_words].mean(dim=0)
        shown = image[0, 0].float().cpu().numpy()
        maps.append(ViewMap(name, (shown - shown.min()) / max(float(np.ptp(shown)), 1e-8),
                            _grid(key.scores[0, where], grid), _grid(key.kept[0, where], grid).astype(bool),
                            _grid(attention, grid)))
    return maps


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
    """A PNG with one column per view: the key-patch scores over the image (tokens not kept crossed), and the
    word-patch attention over the image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(maps), figsize=(4.2 * len(maps), 8.4), squeeze=False)
    # both views' tokens compete for the same key set: one colour scale for the scores
    score_range = (min(float(m.scores.min()) for m in maps), max(float(m.scores.max()) for m in maps))
    for col, m in enumerate(maps):
        size = m.image.shape
        panels = ((m.scores, "key-patch score (x: merged)", score_range), (m.attention, "word-patch attention",
                                                                           (None, None)))
        for row, (values, title, (vmin, vmax)) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(m.image, cmap="gray", extent=(0, size[1], size[0], 0))
            shown = ax.imshow(values, cmap="inferno", alpha=0.5, extent=(0, size[1], size[0], 0),
                              interpolation="bilinear", vmin=vmin, vmax=vmax)
            if row == 0:  # tokens left out of the key set (merged into one token) are crossed
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
