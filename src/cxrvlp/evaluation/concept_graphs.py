"""How well the report concept-graph extractor (:mod:`cxrvlp.text.concept_graph`) recovers findings and their
locations: precision / recall / F1 of pathology entities, anatomy entities and ``located_at`` relations, against
the phantom's ground truth and against the IU X-Ray MeSH terms (docs/cga.md).

**Concepts.** A reference names findings in its own vocabulary (phantom finding names, MeSH headings); each
reference gets a table from the extractor's pathology terms to its *concepts* (:class:`TermTable`). A term may
denote several concepts ("pneumonia": the phantom's consolidation or retrocardiac opacity) and may be conditioned
on where the graph puts it ("enlargement" at the heart is cardiomegaly). A *generic* term ("opacity" on the
phantom, where consolidation, nodules, masses, atelectasis and edema are all opacities) cannot say which finding
it is: it never counts for recall, and for precision it is right (and left out) when the study has a finding it
may denote, wrong otherwise.

**Scores**, pooled over studies, with the extractor's positive entities (or positive and uncertain ones, the
``with_uncertain`` rows):

- *pathology entities*: distinct (study, concept) pairs. A predicted entity whose denotations meet the study's
  concepts predicts the first of them (a true positive: one entity, one finding); one that meets none predicts its
  first denotation (a false positive);
  a term outside the table is a false positive where the reference is complete (the phantom) and unscored where it
  is not (MeSH indexes far fewer things than reports say: such terms are counted under ``unscored_terms``);
- *located_at*: distinct (study, concept, anatomy node) triples of the scored entities. A predicted node is right
  when it lies within a reference node of that concept (:func:`node_within`: a lung zone, hilum or costophrenic
  angle lies within its side's lung), and a reference triple is found when some predicted node of the concept lies
  within it; predicted triples of a concept for which the reference gives no location are unscored. ``side``
  rows compare the sides only (every node reduced to right / left / heart / mediastinum);
- *anatomy entities*: the anatomy nodes of those scored triples against the reference's nodes, by the same
  containment.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from cxrvlp.text.concept_graph import ANATOMY_NODES, ReportGraph, extract_graph

SIDES = ("right", "left")


# -- anatomy nodes ------------------------------------------------------------------------------------------------
def node_within(node: str, ref: str) -> bool:
    """``node`` is ``ref`` or a part of it: a zone, hilum or costophrenic angle is part of its side's lung."""
    if node == ref:
        return True
    side, _, rest = node.partition(" ")
    return side in SIDES and ref == f"{side} lung" and rest in ("upper zone", "mid zone", "lower zone", "hilum",
                                                                 "costophrenic angle")


def node_side(node: str) -> str:
    """``right`` / ``left`` for a lateral node, else the node (heart, mediastinum)."""
    side = node.split(" ", 1)[0]
    return side if side in SIDES else node


# -- scores -------------------------------------------------------------------------------------------------------
@dataclass
class PRF:
    """Pooled counts: predicted items right / all scored predictions, reference items found / all reference items."""

    pred_right: int = 0
    pred_total: int = 0
    ref_found: int = 0
    ref_total: int = 0

    def add(self, pred_right: int, pred_total: int, ref_found: int, ref_total: int) -> None:
        self.pred_right += pred_right
        self.pred_total += pred_total
        self.ref_found += ref_found
        self.ref_total += ref_total

    def as_dict(self) -> dict:
        p = self.pred_right / self.pred_total if self.pred_total else 0.0
        r = self.ref_found / self.ref_total if self.ref_total else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "predicted": self.pred_total,
                "predicted_right": self.pred_right, "reference": self.ref_total, "reference_found": self.ref_found}


def match(pred: set, ref: set, within=lambda a, b: a == b) -> tuple[int, int, int, int]:
    """``(pred right, pred total, ref found, ref total)``: a prediction is right when it lies within some reference
    item, a reference item is found when some prediction lies within it."""
    right = sum(any(within(p, r) for r in ref) for p in pred)
    found = sum(any(within(p, r) for p in pred) for r in ref)
    return right, len(pred), found, len(ref)


# -- references and predictions -------------------------------------------------------------------------------------
@dataclass
class Reference:
    """What a study's reference says: its concepts and their located_at triples ``(concept, anatomy node)``."""

    concepts: set[str] = field(default_factory=set)
    located_at: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class TermRule:
    """What one extractor term denotes: ``concepts`` (in order of preference), optionally only when the graph puts
    it at a node starting with one of ``at`` (else ``otherwise``); ``generic`` as in the module docstring."""

    concepts: tuple[str, ...]
    at: tuple[str, ...] = ()
    generic: bool = False
    otherwise: TermRule | None = None


@dataclass
class TermTable:
    name: str
    rules: dict[str, TermRule]
    complete: bool  # the reference lists every finding: an unmapped positive term is a false positive

    def rule(self, term: str, nodes: set[str]) -> TermRule | None:
        r = self.rules.get(term)
        while r is not None and r.at and not any(n.startswith(a) for n in nodes for a in r.at):
            r = r.otherwise
        return r


@dataclass
class PredictedEntity:
    term: str
    status: str
    nodes: set[str]
    start: int
    end: int


def predicted_entities(graph: ReportGraph, statuses=("positive",)) -> list[PredictedEntity]:
    """The graph's pathology entities of ``statuses`` with the anatomy nodes they are located at."""
    out = []
    for i, e in enumerate(graph.entities):
        if e.kind != "pathology" or e.status not in statuses:
            continue
        nodes = {graph.entities[r.tail].name for r in graph.relations if r.kind == "located_at" and r.head == i}
        out.append(PredictedEntity(e.name, e.status, nodes, e.start, e.end))
    return out


@dataclass
class StudyScore:
    """One study's scored items (for pooling and for the error analysis)."""

    concepts_pred: set = field(default_factory=set)  # (concept) predicted, scored
    concepts_wrong: set = field(default_factory=set)  # (term or concept) predicted, not in the reference
    triples_pred: set = field(default_factory=set)  # (concept, node), scored
    unscored_terms: list = field(default_factory=list)


def score_study(entities: list[PredictedEntity], ref: Reference, table: TermTable) -> StudyScore:
    out = StudyScore()
    located = {c for c, _ in ref.located_at}
    for e in entities:
        rule = table.rule(e.term, e.nodes)
        if rule is None:
            if table.complete:
                out.concepts_wrong.add(e.term)
            else:
                out.unscored_terms.append(e.term)
            continue
        hit = [c for c in rule.concepts if c in ref.concepts][:1]  # one entity, one finding
        if rule.generic:
            if not hit:
                out.concepts_wrong.add(f"{e.term} (generic)")
            continue
        concepts = hit or [rule.concepts[0]]
        if hit:
            out.concepts_pred.update(hit)
        else:
            out.concepts_wrong.add(rule.concepts[0])
        for c in concepts:
            if c in located:
                out.triples_pred.update((c, n) for n in e.nodes)
    return out


class Pooled:
    """Scores pooled over studies."""

    def __init__(self):
        self.entities, self.anatomy, self.located_at, self.located_at_side = PRF(), PRF(), PRF(), PRF()
        self.per_concept: dict[str, PRF] = {}
        self.unscored = Counter()

    def add(self, s: StudyScore, ref: Reference) -> None:
        pred = s.concepts_pred | {("wrong", w) for w in s.concepts_wrong}
        self.entities.add(len(s.concepts_pred & ref.concepts), len(pred), len(s.concepts_pred & ref.concepts),
                          len(ref.concepts))
        for c in ref.concepts | s.concepts_pred:
            self.per_concept.setdefault(c, PRF()).add(int(c in s.concepts_pred and c in ref.concepts),
                                                      int(c in s.concepts_pred),
                                                      int(c in s.concepts_pred and c in ref.concepts),
                                                      int(c in ref.concepts))
        for w in s.concepts_wrong:
            self.per_concept.setdefault(w, PRF()).add(0, 1, 0, 0)
        self.located_at.add(*match(s.triples_pred, ref.located_at,
                                   lambda p, r: p[0] == r[0] and node_within(p[1], r[1])))
        side = lambda triples: {(c, node_side(n)) for c, n in triples}  # noqa: E731
        self.located_at_side.add(*match(side(s.triples_pred), side(ref.located_at)))
        self.anatomy.add(*match({n for _, n in s.triples_pred}, {n for _, n in ref.located_at}, node_within))
        self.unscored.update(s.unscored_terms)

    def as_dict(self) -> dict:
        return {"pathology_entities": self.entities.as_dict(), "anatomy_entities": self.anatomy.as_dict(),
                "located_at": self.located_at.as_dict(), "located_at_side": self.located_at_side.as_dict(),
                "per_concept": {k: v.as_dict() for k, v in sorted(self.per_concept.items(), key=lambda kv: str(kv[0]))},
                "unscored_terms": dict(self.unscored.most_common())}


# -- the phantom ---------------------------------------------------------------------------------------------------
PHANTOM_LOBE_ZONE = {"upper": "upper zone", "middle": "mid zone", "lingula": "mid zone", "lower": "lower zone"}
_AIRSPACE = ("consolidation", "retrocardiac_opacity")
_OPACITIES = ("consolidation", "retrocardiac_opacity", "nodule", "mass", "atelectasis", "edema", "pleural_effusion")
# an opacity at the left lower zone is how the phantom reports a retrocardiac opacity ("left lower lobe opacity
# behind the heart"); anywhere else it may be any finding that adds density
_OPACITY = TermRule(("retrocardiac_opacity", "consolidation", "atelectasis", "mass", "nodule"), at=("left lower zone",),
                    otherwise=TermRule(_OPACITIES, generic=True))
PHANTOM_TERMS = TermTable("phantom", {
    "effusion": TermRule(("pleural_effusion",)), "blunting": TermRule(("pleural_effusion",)),
    "pneumothorax": TermRule(("pneumothorax",)), "cardiomegaly": TermRule(("cardiomegaly",)),
    "enlargement": TermRule(("cardiomegaly",), at=("heart",), otherwise=TermRule(("mass",), at=("right hilum",
                                                                                                 "left hilum"))),
    "consolidation": TermRule(("consolidation",)), "infiltrate": TermRule(("consolidation",)),
    "airspace disease": TermRule(("consolidation",)), "pneumonia": TermRule(_AIRSPACE),
    "infection": TermRule(_AIRSPACE), "nodule": TermRule(("nodule",)), "granuloma": TermRule(("nodule",)),
    "calcification": TermRule(("nodule",)),  # the phantom's calcified nodules ("calcified granuloma")
    "mass": TermRule(("mass",)), "atelectasis": TermRule(("atelectasis",)), "collapse": TermRule(("atelectasis",)),
    "elevation": TermRule(("atelectasis",), at=("right hemidiaphragm", "left hemidiaphragm")),
    "edema": TermRule(("edema",)), "congestion": TermRule(("edema",)),
    "opacity": _OPACITY, "density": _OPACITY,
}, complete=True)


def phantom_reference(gt: dict, visible_only: bool = False) -> Reference:
    """The findings of one phantom study (``study.meta["ground_truth"]``) as concepts and located_at triples.

    Sides and places: an effusion or pneumothorax is at its side's lung (both for bilateral effusions), a
    consolidation at the zone of its lobe (upper → upper zone, middle and lingula → mid zone, lower → lower zone),
    a nodule or mass at its side's ``zone`` (a hilar mass at the side's hilum), atelectasis at the lower zone of each
    side it is on, edema at both lungs, a retrocardiac opacity at the left lower zone, cardiomegaly at the heart.
    Support devices are left out (the extractor has no device entities). ``visible_only`` keeps the findings
    visible in some view, the ones a report can mention (the phantom does not report misses).
    """
    ref = Reference()
    for f in gt["findings"]:
        name = f["name"]
        if name == "support_devices":
            continue
        if visible_only and not any(v["visible"] for v in f["views"].values()):
            continue
        ref.concepts.add(name)
        sides = list(SIDES) if f.get("side") == "bilateral" else [f["side"]] if f.get("side") in SIDES else []
        if name == "atelectasis" and f.get("kind") == "plate":
            sides = sorted({{"R": "right", "L": "left"}[p[0]] for p in f["plates"]})
        nodes: list[str] = []
        if name == "cardiomegaly":
            nodes = ["heart"]
        elif name in ("pleural_effusion", "pneumothorax", "edema"):
            nodes = [f"{s} lung" for s in (sides or SIDES)]
        elif name == "consolidation":
            nodes = [f"{s} {PHANTOM_LOBE_ZONE[f['lobe']]}" for s in sides]
        elif name in ("nodule", "mass"):
            nodes = [f"{s} hilum" if f.get("hilar") else f"{s} {f['zone']} zone" for s in sides]
        elif name == "atelectasis":
            nodes = [f"{s} lower zone" for s in sides]
        elif name == "retrocardiac_opacity":
            nodes = ["left lower zone"]
        ref.located_at.update((name, n) for n in nodes)
    assert all(n in ANATOMY_NODES for _, n in ref.located_at)
    return ref


# -- IU X-Ray MeSH ---------------------------------------------------------------------------------------------------
# MeSH heading -> concept (the extractor's term, the lung-opacity family merged: indexers pick among opacity,
# density, infiltrate, airspace disease and consolidation much as report authors do). Headings that need a
# qualifier: MESH_QUALIFIED. Everything else is counted as unmapped.
OPACITY = "opacity"
MESH_CONCEPTS: dict[str, str] = {
    "Opacity": OPACITY, "Density": OPACITY, "Infiltrate": OPACITY, "Airspace Disease": OPACITY,
    "Consolidation": OPACITY, "Pulmonary Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly",
    "Pleural Effusion": "effusion", "Hydropneumothorax": "effusion", "Hemopneumothorax": "effusion",
    "Hemothorax": "effusion", "Pneumothorax": "pneumothorax", "Pulmonary Edema": "edema",
    "Pulmonary Congestion": "congestion", "Pneumonia": "pneumonia", "Nodule": "nodule", "Mass": "mass",
    "Calcified Granuloma": "granuloma", "Granuloma": "granuloma", "Granulomatous Disease": "granuloma",
    "Calcinosis": "calcification", "Cicatrix": "scarring", "Emphysema": "emphysema", "Pulmonary Emphysema": "emphysema",
    "Bullous Emphysema": "emphysema", "Pulmonary Fibrosis": "fibrosis", "Fibrosis": "fibrosis",
    "Fractures, Bone": "fracture", "Hernia, Hiatal": "hernia", "Hernia, Diaphragmatic": "hernia",
    "Scoliosis": "scoliosis", "Kyphosis": "kyphosis", "Spondylosis": "degeneration", "Osteophyte": "degeneration",
    "Deformity": "deformity", "Thickening": "thickening", "Lucency": "lucency", "Lung, Hyperlucent": "lucency",
    "Cavitation": "cavitation", "Cysts": "cyst", "Bronchiectasis": "bronchiectasis",
    "Lung Diseases, Interstitial": "interstitial disease", "Pneumoperitoneum": "pneumoperitoneum",
    "Diaphragmatic Eventration": "elevation",
}
MESH_QUALIFIED: dict[str, tuple[tuple[str, str], ...]] = {
    "Lung": (("hyperdistention", "hyperinflation"), ("hypoinflation", "hypoinflation")),
    "Diaphragm": (("elevated", "elevation"),),
    "Costophrenic Angle": (("blunted", "blunting"),),
    "Aorta": (("tortuous", "tortuosity"),), "Aorta, Thoracic": (("tortuous", "tortuosity"),),
    "Markings": (("interstitial", "interstitial disease"),),
    "Cardiac Shadow": (("enlarged", "cardiomegaly"),),
    "Mediastinum": (("widened", "widening"),),
    "Spine": (("degenerative", "degeneration"),), "Thoracic Vertebrae": (("degenerative", "degeneration"),),
}
_CARDIAC = TermRule(("cardiomegaly",), at=("heart",), otherwise=TermRule(("widening",), at=("mediastinum",)))
IU_TERMS = TermTable("iu_mesh", {
    **{t: TermRule((t,)) for t in set(MESH_CONCEPTS.values()) | {c for q in MESH_QUALIFIED.values() for _, c in q}},
    "density": TermRule((OPACITY,)), "infiltrate": TermRule((OPACITY,)), "airspace disease": TermRule((OPACITY,)),
    "consolidation": TermRule((OPACITY,)), "collapse": TermRule(("atelectasis",)),
    "hemothorax": TermRule(("effusion",)), "enlargement": _CARDIAC,
    # indexers file a calcified nodule ("calcified granuloma", "calcified nodule") under Calcified Granuloma alone
    "calcification": TermRule(("calcification", "granuloma")), "nodule": TermRule(("nodule", "granuloma")),
}, complete=False)
# qualifier -> anatomy node template ({s}: the side(s) the term's qualifiers give)
MESH_SITES = {"base": "{s} lower zone", "lower lobe": "{s} lower zone", "upper lobe": "{s} upper zone",
              "apex": "{s} upper zone", "hilum": "{s} hilum", "costophrenic angle": "{s} costophrenic angle",
              "middle lobe": "right mid zone", "lingula": "left mid zone", "retrocardiac": "left lower zone"}
MESH_HEAD_SITES = {"Diaphragm": "{s} hemidiaphragm", "Costophrenic Angle": "{s} costophrenic angle",
                   "Diaphragmatic Eventration": "{s} hemidiaphragm", "Cardiomegaly": "heart",
                   "Cardiac Shadow": "heart", "Mediastinum": "mediastinum"}
LUNG_CONCEPTS = {OPACITY, "atelectasis", "effusion", "pneumothorax", "edema", "congestion", "pneumonia", "nodule",
                 "mass", "granuloma", "calcification", "scarring", "emphysema", "fibrosis", "lucency", "cavitation",
                 "cyst", "bronchiectasis", "interstitial disease", "hyperinflation", "hypoinflation"}
NOT_INDEXED = "No Indexing"


def mesh_reference(mesh: Iterable[str], unmapped: Counter | None = None) -> Reference | None:
    """A report's MeSH terms as concepts and located_at triples; ``None`` when it was not indexed. Headings the
    tables do not map are counted in ``unmapped``.

    Sites: ``right`` / ``left`` / ``bilateral`` give the sides; ``base`` and ``lower lobe`` → lower zone, ``upper
    lobe`` and ``apex`` → upper zone, ``hilum``, ``costophrenic angle``; ``middle lobe`` → right mid zone,
    ``lingula`` → left mid zone, ``retrocardiac`` → left lower zone; a lung finding with a side and no finer site
    → the side's lung; ``Diaphragm`` → hemidiaphragm, ``Costophrenic Angle`` → angle, cardiomegaly → heart. A
    site without a side (``Opacity/lung/base``) gives no triple: the side is unknown.
    """
    ref = Reference()
    for term in mesh:
        head, *quals = [part.strip() for part in term.split("/")]
        if head == NOT_INDEXED:
            return None
        if head == "normal":
            continue
        concepts = [MESH_CONCEPTS[head]] if head in MESH_CONCEPTS else []
        concepts += [c for q, c in MESH_QUALIFIED.get(head, ()) if q in quals]
        if not concepts:
            if unmapped is not None:
                unmapped[head] += 1
            continue
        sides = list(SIDES) if "bilateral" in quals else [s for s in SIDES if s in quals]
        templates = [MESH_SITES[q] for q in quals if q in MESH_SITES]
        if head in MESH_HEAD_SITES:
            templates.append(MESH_HEAD_SITES[head])
        for c in concepts:
            ref.concepts.add(c)
            sites = list(templates)
            if not sites and c in LUNG_CONCEPTS and sides:
                sites = ["{s} lung"]
            for t in sites:
                if "{s}" not in t:
                    ref.located_at.add((c, t))
                else:
                    ref.located_at.update((c, t.format(s=s)) for s in sides)
    return ref


# -- running ----------------------------------------------------------------------------------------------------------
STATUS_SETS = {"positive": ("positive",), "with_uncertain": ("positive", "uncertain")}


@dataclass
class Case:
    """One report with its reference (and where it came from, for the error analysis)."""

    study_id: str
    text: str
    reference: Reference
    source: str = ""


def evaluate(cases: list[Case], table: TermTable, examples: int = 6) -> dict:
    """Scores of the extractor over ``cases`` for each status set, plus error examples (positive entities only)."""
    graphs = [extract_graph(c.text) for c in cases]
    out: dict = {"reports": len(cases), "term_table": table.name}
    errors: dict[str, list] = {"pathology_missed": [], "pathology_wrong": [], "located_at_wrong": [],
                               "located_at_missed": []}
    for key, statuses in STATUS_SETS.items():
        pooled = Pooled()
        for case, graph in zip(cases, graphs):
            ents = predicted_entities(graph, statuses)
            s = score_study(ents, case.reference, table)
            pooled.add(s, case.reference)
            if key == "positive":
                _collect_errors(errors, case, s, ents, examples)
        out[key] = pooled.as_dict()
    out["errors"] = errors
    return out


def _collect_errors(errors: dict, case: Case, s: StudyScore, ents: list[PredictedEntity], limit: int) -> None:
    ref = case.reference
    snippet = re.sub(r"\s+", " ", case.text).strip()
    base = {"study": case.study_id, "text": snippet[:400], "reference": sorted(ref.located_at) or sorted(ref.concepts),
            "predicted": sorted((e.term, *sorted(e.nodes)) for e in ents)}
    if len(errors["pathology_missed"]) < limit and ref.concepts - s.concepts_pred:
        errors["pathology_missed"].append({**base, "missed": sorted(ref.concepts - s.concepts_pred)})
    if len(errors["pathology_wrong"]) < limit and s.concepts_wrong:
        errors["pathology_wrong"].append({**base, "wrong": sorted(s.concepts_wrong)})
    wrong = {t for t in s.triples_pred if not any(t[0] == r[0] and node_within(t[1], r[1]) for r in ref.located_at)}
    if len(errors["located_at_wrong"]) < limit and wrong:
        errors["located_at_wrong"].append({**base, "wrong": sorted(wrong)})
    missed = {r for r in ref.located_at if not any(t[0] == r[0] and node_within(t[1], r[1]) for t in s.triples_pred)}
    missed = {r for r in missed if r[0] in s.concepts_pred}  # the finding was found, its place was not
    if len(errors["located_at_missed"]) < limit and missed:
        errors["located_at_missed"].append({**base, "missed": sorted(missed)})


def phantom_cases(studies, visible_only: bool = False) -> list[Case]:
    """Cases from phantom studies (``cxrvlp.data.adapters.load_studies("phantom", ...)``)."""
    return [Case(s.study_id, s.report_text(), phantom_reference(s.meta["ground_truth"], visible_only))
            for s in studies]


def iu_cases(path: str | Path, fields: tuple[str, ...] = ("findings", "impression")) -> tuple[list[Case], dict]:
    """Cases from the IU X-Ray ``studies.jsonl`` (see its README), and what was left out and why."""
    cases, unmapped, skipped = [], Counter(), Counter()
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            text = " ".join(str(row.get(k) or "").strip() for k in fields).strip()
            ref = mesh_reference(row["MeSH"], unmapped)
            if ref is None:
                skipped["not indexed"] += 1
            elif not text:
                skipped["empty text"] += 1
            else:
                cases.append(Case(str(row["study_id"]), text, ref))
    return cases, {"skipped": dict(skipped), "unmapped_mesh_headings": dict(unmapped.most_common()),
                   "unmapped_mesh_terms": sum(unmapped.values())}


def evaluate_phantom(root: str | Path, splits=("train", "validate", "test")) -> dict:
    from cxrvlp.data.adapters import load_studies

    studies, _ = load_studies("phantom", str(root), tuple(splits))
    return {"data": str(root), "studies": len(studies),
            "all_findings": evaluate(phantom_cases(studies), PHANTOM_TERMS),
            "visible_findings": evaluate(phantom_cases(studies, visible_only=True), PHANTOM_TERMS, examples=0)}


def evaluate_iu(path: str | Path) -> dict:
    cases, info = iu_cases(path)
    return {"data": str(path), **info, **evaluate(cases, IU_TERMS)}
