r"""Grounding on the phantom (``cxrvlp evaluate grounding``): do a model's word-to-patch maps of a finding phrase
fall on that finding's true mask?

For every held-out study and every **positive finding phrase** of its report (below), and every view the model
encodes locally, the phrase's map is scored against the mask of its finding on that view's image. The map comes
from the model (``model.word_patch_maps(batch)``, :mod:`cxrvlp.methods.maps`: the recipe's own word→patch
attention where it has one, else the cosine similarity of word and patch embeddings); this module only reads it.

**Phrases.** The pathology terms of the report (:meth:`cxrvlp.text.lexicon.Lexicon.find_terms`) joined with the
terms (pathology or anatomy) right before them, separated by white space only ("retrocardiac opacity", "pulmonary
vascular congestion", "right middle lobe consolidation", "calcified granuloma"). A phrase names the phantom
findings its pathology terms may denote (:data:`TERM_FINDINGS`): the intersection over its terms (the last term's,
the head noun's, when they share none). An anatomy term of the phrase (:data:`ANATOMY_FINDINGS`: "retrocardiac")
and the CheXpert observation of a labeler mention the terms overlap (the phantom's observation → findings table,
:data:`cxrvlp.phantom.reports.SUPPORT`: a Cardiomegaly mention) narrow them, where that leaves any. "Pneumonia"
names the consolidation (or retrocardiac opacity) it describes; support devices have masks but no pathology term
and are never scored. It is scored when

1. it names a phantom finding at all (else skipped: "names no phantom finding", e.g. "fracture");
2. it is **positive**: every finding-naming term is positive for the rule labeler (:mod:`cxrvlp.text.labeler`):
   the labeler's decision on the mentions the term overlaps, or, for a term that is no mention ("blunting"), the
   same cue rules on the term itself (:meth:`~cxrvlp.text.labeler.RuleLabeler.label_spans`); negated and uncertain
   phrases are skipped and counted;
3. exactly one of the findings it names is truly present in the study (``labels[finding] == 1``, the phantom's
   ground truth); when several are ("opacity" in a study with a consolidation and a nodule), the findings named
   unambiguously by the other phrases of its sentence decide ("airspace opacity ..., concerning for pneumonia"),
   else it is skipped as ambiguous;
4. all of its tokens survive the text encoder's token limit;

and, per view, when the study has an image of that view and the finding a non-empty mask on it (after the same
resize / pad / centre crop as the image: :func:`cxrvlp.evaluation.data.crop_mask`). Every occurrence is a phrase
(the impression often repeats a finding sentence). Every skip is counted by reason.

**Phrase map.** The phrase's tokens are those whose character offsets overlap the phrase; their words
(``word_index``) are averaged: :math:`M = \frac{1}{|W|} \sum_{w \in W} A_w`, ``A_w [h, w]`` the view's word map.

**Scores** (pure functions of the map :math:`M` and the mask's patch fractions :math:`f_p \in [0, 1]`, the
share of patch :math:`p` inside the mask, area-averaged from the crop-sized mask): a patch is *in the mask* when
:math:`f_p > 0`, :math:`y_p = [f_p > 0]`.

- **pointing game**: :math:`[y^{(t)}_{\arg\max M}]`, where :math:`y^{(t)}` is :math:`y` dilated by ``tolerance``
  patches (Chebyshev distance; 0 = the argmax patch itself must touch the mask); ties among maxima count as the
  expected hit over the tied patches. Chance: :math:`\bar{y}^{(t)}`, the share of patches that count as a hit
  (what a uniformly random point scores);
- **mask AUROC**: the AUROC of the patch scores :math:`M_p` against :math:`y_p` (scikit-learn); undefined when
  every patch or no patch touches the mask. Chance: 0.5;
- **energy inside the mask**: :math:`E = \sum_p \tilde M_p f_p / \sum_p \tilde M_p` with
  :math:`\tilde M = M - \min M` (the maps' scale and sign differ between recipes: cosine in [-1, 1], attention
  in [0, 1]); this is the pixel-level share of the map's positive part inside the mask when the map is spread
  evenly over each patch. A constant map has :math:`\tilde M = 0` and is given the limit of a uniform map,
  :math:`\bar f`. Chance: :math:`\bar f`, the mask's area fraction of the crop.

Scores and chances are averaged over phrases per finding × view, per view and overall (``metrics.json``,
``results.md``); ``grounding_maps.png`` shows a few phrases: the image with the true mask outlined, and the map.
"""
from __future__ import annotations

import hashlib
import inspect
import math
import platform
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import track
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from cxrvlp import __version__
from cxrvlp.data.adapters import PHANTOM_FINDINGS, load_studies
from cxrvlp.data.dataset import Collate, StudyDataset
from cxrvlp.data.study import Study
from cxrvlp.data.transforms import Preprocess
from cxrvlp.evaluation.data import crop_mask, evenly_spaced
from cxrvlp.evaluation.grounding import has_local_features
from cxrvlp.evaluation.results import summary_row, write_run
from cxrvlp.phantom.reports import SUPPORT
from cxrvlp.text.labeler import RuleLabeler, Status
from cxrvlp.text.lexicon import LEXICON, Term
from cxrvlp.text.tokenize import Tokenize

# the phantom findings a pathology term of a report may denote (canonical term of the lexicon → finding names);
# terms not listed name no phantom finding (fracture, ...). Support devices have masks but no pathology term.
TERM_FINDINGS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("cardiomegaly",),
    "enlargement": ("cardiomegaly", "mass"),  # "the heart is enlarged"; "the hilar contour is enlarged" (hilar mass)
    "effusion": ("pleural_effusion",),
    "blunting": ("pleural_effusion",),  # "with blunting of the costophrenic angle"
    "pneumothorax": ("pneumothorax",),
    "consolidation": ("consolidation",),
    "infiltrate": ("consolidation",),
    "airspace disease": ("consolidation",),
    "pneumonia": ("consolidation", "retrocardiac_opacity"),  # "consolidation, compatible with pneumonia"
    "opacity": ("consolidation", "retrocardiac_opacity", "nodule", "mass", "atelectasis", "edema",
                "pleural_effusion"),
    "nodule": ("nodule",),
    "granuloma": ("nodule",),
    "calcification": ("nodule",),  # "calcified nodule / granuloma"
    "mass": ("mass",),
    "atelectasis": ("atelectasis",),
    "collapse": ("atelectasis",),
    "edema": ("edema",),
    "congestion": ("edema",),
}
# anatomy terms that pin a phrase to one finding ("retrocardiac opacity")
ANATOMY_FINDINGS: dict[str, tuple[str, ...]] = {"retrocardiac": ("retrocardiac_opacity",)}
VIEWS = ("frontal", "lateral")
_LABELER = RuleLabeler()


# -- scores (pure: a map and a mask in, numbers out) -----------------------------------------------------------
def patch_fractions(mask, grid: tuple[int, int]) -> np.ndarray:
    """``float [h, w]``: the share of each patch of ``grid`` inside ``mask [H, W]`` (bool), by area averaging."""
    m = torch.as_tensor(np.asarray(mask), dtype=torch.float32)[None, None]
    return F.adaptive_avg_pool2d(m, grid)[0, 0].double().numpy()


def _as_array(x) -> np.ndarray:
    return x.detach().double().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def hit_patches(fractions, tolerance: int = 0) -> np.ndarray:
    """``bool [h, w]``: patches that touch the mask (:math:`f_p > 0`), dilated by ``tolerance`` patches."""
    y = _as_array(fractions) > 0
    if tolerance > 0:
        t = torch.from_numpy(y.astype(np.float32))[None, None]
        y = F.max_pool2d(t, 2 * tolerance + 1, stride=1, padding=tolerance)[0, 0].numpy() > 0
    return y


def pointing_game(scores, fractions, tolerance: int = 0) -> float:
    """1 if the map's maximum lies on a patch that touches the mask (within ``tolerance`` patches), else 0; with
    tied maxima, the share of them that hit (the expected score of breaking the tie at random)."""
    s = _as_array(scores)
    top = s == s.max()
    return float(hit_patches(fractions, tolerance)[top].mean())


def mask_auroc(scores, fractions) -> float:
    """AUROC of the patch scores against patch-in-mask labels (:math:`f_p > 0`); NaN when one class is absent."""
    y = (_as_array(fractions) > 0).ravel()
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, _as_array(scores).ravel()))


def energy_inside(scores, fractions) -> float:
    r""":math:`\sum_p (M_p - \min M) f_p / \sum_p (M_p - \min M)`; a constant map scores :math:`\bar f`."""
    s, f = _as_array(scores), _as_array(fractions)
    pos = s - s.min()
    total = pos.sum()
    if total <= 0:
        return float(f.mean())
    return float((pos * f).sum() / total)


def score_map(scores, fractions, tolerance: int = 0) -> dict[str, float]:
    """The three scores of one map and their chance levels: ``pointing``, ``auroc``, ``energy``,
    ``chance_pointing`` (share of hit patches), ``chance_auroc`` (0.5), ``chance_energy`` (area fraction)."""
    f = _as_array(fractions)
    return {"pointing": pointing_game(scores, f, tolerance), "auroc": mask_auroc(scores, f),
            "energy": energy_inside(scores, f), "chance_pointing": float(hit_patches(f, tolerance).mean()),
            "chance_auroc": 0.5, "chance_energy": float(f.mean())}


SCORES = ("pointing", "auroc", "energy")


def aggregate(records: list[dict]) -> dict:
    """Mean of each score and chance over ``records`` (NaN AUROCs left out: ``n_auroc`` counts the rest)."""
    out: dict = {"n": len(records)}
    for key in (*SCORES, *(f"chance_{k}" for k in SCORES)):
        v = np.array([r[key] for r in records], dtype=np.float64)
        v = v[~np.isnan(v)]
        out[key] = float(v.mean()) if v.size else math.nan
        if key == "auroc":
            out["n_auroc"] = int(v.size)
    return out


# -- finding phrases of a report -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FindingPhrase:
    """``text == report[start:end]``; ``finding`` is the phantom finding it is scored against (``None`` when it is
    skipped, ``skip`` saying why); ``status`` the labeler's decision."""

    start: int
    end: int
    text: str
    status: str
    finding: str | None
    skip: str | None = None


def _term_status(text: str, term: Term, mentions: list) -> Status:
    overlapping = [m.status for m in mentions if m.mention.start < term.end and term.start < m.mention.end]
    if not overlapping:
        return _LABELER.label_spans(text, [(term.start, term.end)])[0]
    for status in (Status.NEGATIVE, Status.UNCERTAIN):
        if status in overlapping:
            return status
    return Status.POSITIVE


def _phrases(text: str) -> list[list[Term]]:
    """Runs of terms separated by white space only, cut after their last pathology term (trailing anatomy terms
    dropped); runs without a pathology term are no phrase."""
    terms = sorted([*LEXICON.find_terms(text, "pathology"), *LEXICON.find_terms(text, "anatomy")],
                   key=lambda t: (t.start, t.end))
    kept: list[Term] = []
    for t in terms:  # a pathology term and an anatomy term may overlap: keep the first, longer one
        if kept and t.start < kept[-1].end:
            continue
        kept.append(t)
    runs: list[list[Term]] = []
    for t in kept:
        if runs and text[runs[-1][-1].end:t.start].isspace():
            runs[-1].append(t)
        else:
            runs.append([t])
    out = []
    for run in runs:
        last = max((i for i, t in enumerate(run) if t.category == "pathology"), default=-1)
        if last >= 0:
            out.append(run[: last + 1])
    return out


def finding_phrases(text: str, present: set[str]) -> list[FindingPhrase]:
    """The finding phrases of a report and the finding each is scored against; ``present``: the findings truly
    in the study. Rules in the module docstring."""
    labels = _LABELER.label(text)
    mentions = [m for obs in labels.observations.values() for m in obs.mentions]
    found = []
    for run in _phrases(text):
        naming = [t for t in run if t.category == "pathology" and t.term in TERM_FINDINGS]
        start, end = run[0].start, run[-1].end
        if not naming:
            found.append((start, end, "n/a", set(), set(), run[0].sentence_index))
            continue
        candidates = set(PHANTOM_FINDINGS)
        for t in naming:
            candidates &= set(TERM_FINDINGS[t.term])
        if not candidates:  # terms that disagree: the last one is the head noun ("nodular opacity")
            candidates = set(TERM_FINDINGS[naming[-1].term])
        narrowing = [set(ANATOMY_FINDINGS[t.term]) for t in run if t.category == "anatomy" and t.term in
                     ANATOMY_FINDINGS]
        narrowing += [set(SUPPORT[m.mention.observation]) for m in mentions for t in naming
                      if m.mention.start < t.end and t.start < m.mention.end and SUPPORT.get(m.mention.observation)]
        for allowed in narrowing:
            if candidates & allowed:
                candidates &= allowed
        statuses = {_term_status(text, t, mentions) for t in naming}
        status = next((s for s in (Status.NEGATIVE, Status.UNCERTAIN) if s in statuses), Status.POSITIVE)
        found.append((start, end, status.value, candidates, candidates & present, run[0].sentence_index))
    out = []
    for i, (start, end, status, candidates, possible, sentence) in enumerate(found):
        finding, skip = None, None
        if not candidates:
            skip = "names no phantom finding"
        elif status != Status.POSITIVE.value:
            skip = status
        elif not possible:
            skip = "finding not in the ground truth"
        elif len(possible) == 1:
            finding = next(iter(possible))
        else:
            context = set()
            for j, other in enumerate(found):
                if j != i and other[5] == sentence and other[3] and len(other[4]) == 1:
                    context |= other[4]
            context &= possible
            if len(context) == 1:
                finding = next(iter(context))
            else:
                skip = "ambiguous finding"
        out.append(FindingPhrase(start, end, text[start:end], status, finding, skip))
    return out


def phrase_words(offsets, word_index, start: int, end: int) -> list[int] | None:
    """The words (rows of the maps) of the tokens whose character ``offsets [T, 2]`` overlap ``[start, end)``;
    ``word_index [T]`` (-1 outside words). ``None`` when the phrase runs past the last token (cut by the limit)."""
    offsets, word_index = torch.as_tensor(offsets), torch.as_tensor(word_index)
    real = (offsets[:, 1] > offsets[:, 0]) & (word_index >= 0)
    if not real.any() or int(offsets[real, 1].max()) < end:
        return None
    hit = real & (offsets[:, 0] < end) & (offsets[:, 1] > start)
    words = sorted({int(w) for w in word_index[hit].tolist()})
    return words or None


# -- the evaluation ------------------------------------------------------------------------------------------
def present_findings(study: Study) -> set[str]:
    """The phantom findings truly in a study (``labels[finding] == 1``; the phantom adapter adds its truth)."""
    return {f for f in PHANTOM_FINDINGS if study.labels.get(f) == 1}


def _view_record(study: Study, view: str):
    images = study.frontal if view == "frontal" else study.lateral
    return images[0] if images else None  # StudyDataset's pick outside training


def check_local_features(model) -> None:
    if not has_local_features(model):
        raise ValueError(f"recipe {model.cfg.name} has no local features (model {type(model).__name__} has no "
                         "word_patch_maps): grounding needs word-to-patch maps")


@torch.no_grad()
def evaluate_grounding(checkpoint: str | Path, out_dir: str | Path, data_root: str | None = None,
                       adapter: str | None = None, split: str | tuple[str, ...] = "test", batch_size: int = 16,
                       limit: int = 0, tolerance: int = 0, examples: int = 6, device: str = "cpu",
                       progress: bool = True) -> dict:
    """Score the word-to-patch maps of every positive finding phrase against its finding's mask (module
    docstring) and write ``metrics.json``, ``results.md`` and ``grounding_maps.png`` to ``out_dir``.

    ``limit`` > 0 keeps that many studies, evenly spaced in study-id order; ``tolerance``: the pointing game's
    tolerance in patches; ``examples``: phrases drawn in the PNG (one per finding × view first)."""
    from cxrvlp.methods.loading import load_model

    model = load_model(checkpoint)
    check_local_features(model)
    model.to(device)
    cfg = model.cfg
    adapter = adapter or cfg.data.adapter
    data_root = str(data_root or cfg.data.root)
    splits = (split,) if isinstance(split, str) else tuple(split)
    studies, skips = load_studies(adapter, data_root, splits)
    studies = sorted(studies, key=lambda s: s.study_id)
    if limit:
        studies = [studies[i] for i in evenly_spaced(len(studies), limit)]
    if not studies:
        raise ValueError(f"{data_root}: no {'/'.join(splits)!r} studies to evaluate on ({skips.summary()})")

    dc = model.image_encoder.data_config
    pre = Preprocess(resize=cfg.data.resize, crop=cfg.data.crop, mean=float(dc["mean"][0]), std=float(dc["std"][0]),
                     augment=False)
    ds = StudyDataset(studies, pre, train=False, use_lateral=True, report_sections=tuple(cfg.data.report_sections))
    tokenize = Tokenize(model.text_encoder.tokenizer)
    max_length = model.text_encoder.max_length
    loader = DataLoader(ds, batch_size=batch_size, collate_fn=Collate(tokenize, max_length))

    records: list[dict] = []
    counts: Counter = Counter()
    shown: list[dict] = []
    model_views: list[str] = []
    for batch in track(loader, description="grounding", disable=not progress):
        tok = tokenize(batch["text"], max_length, offsets=True)
        if not torch.equal(tok["input_ids"], batch["input_ids"]):
            raise RuntimeError("re-tokenising the batch's texts gave other token ids than the collate's")
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        maps = model.word_patch_maps(moved)
        model_views = [v for v in VIEWS if v in maps.views]
        for b, index in enumerate(batch["index"].tolist()):
            study = studies[index]
            _score_study(study, batch["text"][b], tok["offsets"][b], maps, b, model_views, pre, tolerance,
                         records, counts, shown, examples, batch)

    if not records:
        raise ValueError(f"{data_root} ({'/'.join(splits)}): no finding phrase could be scored against a mask "
                         f"(skipped: {dict(counts)}); grounding needs an adapter with finding masks (phantom)")
    results = _results(records, counts, model_views)
    results["protocol"] = {
        "task": "grounding: word-to-patch maps of positive finding phrases vs the findings' true masks",
        "checkpoint": model.checkpoint_path, "checkpoint_sha256": model.checkpoint_sha256, "recipe": cfg.name,
        "model": type(model).__name__, "map": (inspect.getdoc(model.word_patch_maps) or "").split("\n")[0],
        "views": model_views, "adapter": adapter, "data_root": data_root, "split": "+".join(splits),
        "limit": limit, "n_studies": len(studies), "skipped_inputs": skips.summary(),
        "study_ids_sha256": hashlib.sha256("\n".join(sorted(s.study_id for s in studies)).encode()).hexdigest()[:16],
        "preprocess": pre.as_dict(), "report_sections": list(cfg.data.report_sections), "max_length": max_length,
        "pointing_tolerance_patches": tolerance, "in_mask": "patch mask fraction > 0",
        "cxrvlp_version": __version__, "torch": torch.__version__, "python": platform.python_version(),
    }
    results["summary"] = _summary(adapter, results, model_views)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if shown:
        plot_examples(shown, out / "grounding_maps.png")
    write_run(out, results, grounding_markdown(results))
    return results


def _score_study(study, text, offsets, maps, b, model_views, pre, tolerance, records, counts, shown, examples,
                 batch) -> None:
    present = present_findings(study)
    masks: dict[tuple[str, str], torch.Tensor | None] = {}  # (view, finding): read once per study
    for phrase in finding_phrases(text, present):
        if phrase.skip:
            counts[f"phrase: {phrase.skip}"] += 1
            continue
        words = phrase_words(offsets, maps.word_index[b].cpu(), phrase.start, phrase.end)
        if words is None:
            counts["phrase: cut by the token limit"] += 1
            continue
        for view in model_views:
            record = _view_record(study, view)
            if record is None or not bool(maps.view_mask[view][b]):
                counts[f"{view}: study has no {view} image"] += 1
                continue
            if (view, phrase.finding) not in masks:
                masks[view, phrase.finding] = crop_mask(record, study, pre, phrase.finding)
            mask = masks[view, phrase.finding]
            if mask is None:
                counts[f"{view}: no mask of the finding (not visible in this view)"] += 1
                continue
            if not mask.any():
                counts[f"{view}: mask outside the evaluated crop"] += 1
                continue
            word_maps = maps.views[view][b].float().cpu()
            phrase_map = word_maps[words].mean(dim=0)
            fractions = patch_fractions(mask.numpy(), tuple(phrase_map.shape))
            scores = score_map(phrase_map, fractions, tolerance)
            records.append({"study_id": study.study_id, "finding": phrase.finding, "view": view,
                            "phrase": phrase.text, "start": phrase.start, "end": phrase.end, **scores})
            if len(shown) < examples and (phrase.finding, view) not in {(s["finding"], s["view"]) for s in shown}:
                image = batch["frontal"][b] if view == "frontal" else \
                    batch["lateral"][batch["lateral_index"].tolist().index(b)]
                shown.append({"image": image[0].float().cpu().numpy(), "map": phrase_map.numpy(),
                              "mask": mask.numpy(), "finding": phrase.finding, "view": view, "phrase": phrase.text,
                              "study_id": study.study_id, **scores})


def _results(records: list[dict], counts: Counter, views: list[str]) -> dict:
    findings = sorted({r["finding"] for r in records}, key=PHANTOM_FINDINGS.index)
    per_finding = {f: {v: aggregate([r for r in records if r["finding"] == f and r["view"] == v])
                       for v in views if any(r["finding"] == f and r["view"] == v for r in records)}
                   for f in findings}
    per_view = {v: aggregate([r for r in records if r["view"] == v]) for v in views}
    scored = {"phrases": len({(r["study_id"], r["start"]) for r in records}),
              **{f"{v} maps": sum(r["view"] == v for r in records) for v in views}}
    return {"grounding": {"per_finding": per_finding, "per_view": per_view, "overall": aggregate(records),
                          "phrases": records},
            "scored": scored, "skipped": dict(sorted(counts.items()))}


def _summary(dataset: str, results: dict, views: list[str]) -> list[dict]:
    names = {"pointing": "pointing game", "auroc": "mask AUROC", "energy": "energy in mask"}
    g = results["grounding"]
    rows = []
    for where, agg in [*((v, g["per_view"][v]) for v in views), ("all views", g["overall"])]:
        rows += [summary_row(dataset, f"grounding {names[k]} ({where})", "—", [agg[k]]) for k in SCORES]
    return rows


def _fmt(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def grounding_markdown(results: dict) -> str:
    """A table per finding × view (then per view and overall) with counts, each score beside its chance level."""
    g, p = results["grounding"], results["protocol"]
    lines = [f"### Grounding: {p['recipe']} on {p['adapter']} ({p['split']}, {p['n_studies']} studies)", "",
             f"Pointing: the map's maximum on a patch touching the mask (tolerance {p['pointing_tolerance_patches']} "
             "patch(es)); mask AUROC: patch scores vs patches touching the mask; energy: share of the "
             "min-subtracted map inside the mask. Chance beside each.", "",
             "| finding | view | phrases | pointing | chance | mask AUROC (n) | chance | energy | chance |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def row(finding: str, view: str, a: dict) -> str:
        return (f"| {finding} | {view} | {a['n']} | {_fmt(a['pointing'])} | {_fmt(a['chance_pointing'])} | "
                f"{_fmt(a['auroc'])} ({a['n_auroc']}) | {_fmt(a['chance_auroc'])} | {_fmt(a['energy'])} | "
                f"{_fmt(a['chance_energy'])} |")

    for finding, by_view in g["per_finding"].items():
        lines += [row(finding, view, a) for view, a in by_view.items()]
    lines += [row("**all findings**", view, a) for view, a in g["per_view"].items()]
    lines.append(row("**all findings**", "all views", g["overall"]))
    lines += ["", "| phrases and maps | count |", "|---|---:|"]
    lines += [f"| scored: {what} | {n} |" for what, n in results["scored"].items()]
    lines += [f"| skipped: {reason} | {n} |" for reason, n in results["skipped"].items()]
    return "\n".join(lines) + "\n"


def plot_examples(shown: list[dict], path: Path) -> Path:
    """One row per phrase: the image with the true mask outlined, and the phrase's map over it (outline too)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(shown), 2, figsize=(7.0, 3.4 * len(shown)), squeeze=False)
    for row, ex in enumerate(shown):
        img = ex["image"]
        img = (img - img.min()) / max(float(np.ptp(img)), 1e-8)
        size = img.shape
        extent = (0, size[1], size[0], 0)
        for col in range(2):
            ax = axes[row, col]
            ax.imshow(img, cmap="gray", extent=extent)
            if col == 1:
                shown_map = ax.imshow(ex["map"], cmap="inferno", alpha=0.55, extent=extent, interpolation="bilinear")
                fig.colorbar(shown_map, ax=ax, fraction=0.046)
            if ex["mask"].any():  # pixel centres, in the image's (downward) coordinates
                ax.contour(np.arange(size[1]) + 0.5, np.arange(size[0]) + 0.5, ex["mask"].astype(float),
                           levels=[0.5], colors="cyan", linewidths=1.0)
            ax.axis("off")
        axes[row, 0].set_title(f"s{ex['study_id']} {ex['view']}: {ex['finding']}", fontsize=8)
        axes[row, 1].set_title(f"\"{ex['phrase']}\"  P={ex['pointing']:.2f} AUROC={_fmt(ex['auroc'])} "
                               f"E={ex['energy']:.2f}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
