"""Report concept graphs (CGA, issue 13 part 1): anatomy and pathology entities of a report and the relations
between them, after RadGraph's schema, by rules over the project's lexicon.

- **Anatomy nodes** come from a fixed vocabulary, :data:`ANATOMY_NODES`, so that a report's graph and an image's
  graph have the same node types (left / right lung and its upper, mid and lower zones, hila, costophrenic angles,
  hemidiaphragms, heart, mediastinum). A lexicon anatomy term maps to nodes with the side stated next to it
  ("left", "right", "bilateral", "bibasilar"). Lobes map to zones (upper lobe → upper zone, middle lobe and lingula
  → mid zone, lower lobe → lower zone); apex → upper zone; base, costophrenic angle → lower zone and angle;
  retrocardiac → left lower zone. A term with no side names both sides where the anatomy is paired.
- **Pathology entities** are the lexicon's pathology terms, with the labeler's status (positive, negative,
  uncertain: :meth:`cxrvlp.text.labeler.RuleLabeler.label_spans`), and the side stated just before them.
- **Relations**:
  - ``located_at`` (pathology → anatomy node): the anatomy terms of the pathology's clause; a pathology with no
    anatomy in its clause but a side gets the side's default node of that pathology (an effusion, a pneumothorax:
    the side's lung); cardiomegaly is located at the heart;
  - ``suggestive_of`` (pathology → pathology): "A ... suggestive of / consistent with / compatible with /
    concerning for / may represent / representing B" in one sentence;
  - ``modify`` (modifier → pathology): a size or severity word right before the pathology ("small", "large",
    "mild", "moderate", "severe", "minimal", "trace", "focal", "patchy").

The graph keeps character spans; the ``report_graph`` batch target maps them to tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from cxrvlp.text.labeler import RuleLabeler
from cxrvlp.text.lexicon import LEXICON, Term
from cxrvlp.text.sentences import split_sentences

SIDES = ("right", "left")
ZONES = ("upper", "mid", "lower")
ANATOMY_NODES: tuple[str, ...] = (
    *(f"{s} lung" for s in SIDES), *(f"{s} {z} zone" for s in SIDES for z in ZONES),
    *(f"{s} hilum" for s in SIDES), *(f"{s} costophrenic angle" for s in SIDES),
    *(f"{s} hemidiaphragm" for s in SIDES), "heart", "mediastinum")
# lexicon anatomy term → node templates ({s}: the side(s))
_ANATOMY_MAP: dict[str, tuple[str, ...]] = {
    "right upper lobe": ("right upper zone",), "right middle lobe": ("right mid zone",),
    "right lower lobe": ("right lower zone",), "left upper lobe": ("left upper zone",),
    "left lower lobe": ("left lower zone",), "lingula": ("left mid zone",),
    "upper zone": ("{s} upper zone",), "mid zone": ("{s} mid zone",), "lower zone": ("{s} lower zone",),
    "apex": ("{s} upper zone",), "base": ("{s} lower zone",), "lung": ("{s} lung",), "hilum": ("{s} hilum",),
    "costophrenic angle": ("{s} costophrenic angle",), "hemidiaphragm": ("{s} hemidiaphragm",),
    "retrocardiac": ("left lower zone",), "heart": ("heart",), "cardiomediastinal silhouette": ("heart", "mediastinum"),
    "mediastinum": ("mediastinum",), "pleura": ("{s} lung",),
}
# where a pathology sits when its clause names no anatomy but a side
_DEFAULT_SITE = {"effusion": "{s} lung", "pneumothorax": "{s} lung", "atelectasis": "{s} lower zone",
                 "blunting": "{s} costophrenic angle", "elevation": "{s} hemidiaphragm"}
_FIXED_SITE = {"cardiomegaly": ("heart",)}
MODIFIERS = ("small", "large", "mild", "moderate", "severe", "minimal", "trace", "focal", "patchy", "tiny", "massive",
             "extensive", "subtle", "moderate-to-large", "small-to-moderate")
_SUGGESTIVE = re.compile(r"\b(suggestive of|consistent with|compatible with|concerning for|may represent|"
                         r"representing|likely|which could be|possibly)\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(right|left|bilateral|bibasilar|biapical|both)\b", re.IGNORECASE)
_LABELER = RuleLabeler()


@dataclass(frozen=True)
class Entity:
    kind: str  # "anatomy" | "pathology" | "modifier"
    name: str  # an anatomy node, a pathology term's canonical form, or the modifier word
    start: int
    end: int
    status: str = ""  # pathology: positive / negative / uncertain


@dataclass(frozen=True)
class Relation:
    kind: str  # located_at | suggestive_of | modify
    head: int  # index into ReportGraph.entities
    tail: int


@dataclass
class ReportGraph:
    text: str
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def pathologies(self, status: str | None = "positive") -> set[str]:
        return {e.name for e in self.entities if e.kind == "pathology" and (status is None or e.status == status)}

    def anatomy(self) -> set[str]:
        return {e.name for e in self.entities if e.kind == "anatomy"}

    def triples(self, kind: str = "located_at", status: str | None = "positive") -> set[tuple[str, str]]:
        """``{(head name, tail name)}`` of the relations of ``kind`` whose pathology has ``status``."""
        out = set()
        for r in self.relations:
            h, t = self.entities[r.head], self.entities[r.tail]
            pathology = h if h.kind == "pathology" else t
            if r.kind == kind and (status is None or pathology.status == status):
                out.add((h.name, t.name))
        return out


def _sides(text: str) -> tuple[str, ...]:
    words = {m.group(1).lower() for m in _SIDE.finditer(text)}
    if words & {"bilateral", "bibasilar", "biapical", "both"} or {"left", "right"} <= words:
        return SIDES
    return tuple(s for s in SIDES if s in words)


def _side_before(text: str, start: int, window: int = 40) -> tuple[str, ...]:
    """The side stated in the few words before ``start`` (within its clause)."""
    before = re.split(r"[.;,]| and | with ", text[max(0, start - window):start])[-1]
    return _sides(before)


def _nodes(term: Term, text: str) -> list[str]:
    templates = _ANATOMY_MAP.get(term.term)
    if not templates:
        return []
    sides = _sides(term.text) or _side_before(text, term.start) or SIDES
    if term.term == "base" and re.search(r"bibasilar|bases", term.text, re.IGNORECASE):
        sides = SIDES
    return sorted({t.format(s=s) for t in templates for s in sides})


def _clauses(text: str) -> list[tuple[int, int]]:
    spans = []
    for sentence in split_sentences(text) or []:
        start = sentence.start
        for m in re.finditer(r";|, (?:and|but|with) |\bbut\b|\bhowever\b", text[sentence.start:sentence.end]):
            spans.append((start, sentence.start + m.start()))
            start = sentence.start + m.end()
        spans.append((start, sentence.end))
    return spans or [(0, len(text))]


def extract_graph(text: str) -> ReportGraph:
    """The concept graph of one report (module docstring)."""
    graph = ReportGraph(text)
    terms = LEXICON.find_terms(text, "pathology")
    statuses = _LABELER.label_spans(text, [(t.start, t.end) for t in terms]) if terms else []
    pathology_ids = []
    for t, status in zip(terms, statuses):
        pathology_ids.append(len(graph.entities))
        graph.entities.append(Entity("pathology", t.term, t.start, t.end, status.value))
    anatomy_ids: list[tuple[int, int, int]] = []  # (entity index, start, end)
    for a in LEXICON.find_terms(text, "anatomy"):
        for node in _nodes(a, text):
            anatomy_ids.append((len(graph.entities), a.start, a.end))
            graph.entities.append(Entity("anatomy", node, a.start, a.end))
    clauses = _clauses(text)

    def clause_of(pos: int) -> tuple[int, int]:
        return next((c for c in clauses if c[0] <= pos < c[1]), (0, len(text)))

    for pid, t in zip(pathology_ids, terms):
        lo, hi = clause_of(t.start)
        sites = [i for i, s, e in anatomy_ids if lo <= s and e <= hi]
        if sites:
            graph.relations += [Relation("located_at", pid, i) for i in sites]
        else:
            implied = _FIXED_SITE.get(t.term, ())
            side = _side_before(text, t.start)
            if not implied and t.term in _DEFAULT_SITE and side:
                implied = tuple(_DEFAULT_SITE[t.term].format(s=s) for s in side)
            for node in implied:
                graph.relations.append(Relation("located_at", pid, len(graph.entities)))
                graph.entities.append(Entity("anatomy", node, t.start, t.end))
        word = re.search(r"([\w-]+)\s+(?:\w+\s+)?$", text[max(0, t.start - 30):t.start])
        if word and word.group(1).lower() in MODIFIERS:
            start = t.start - (len(text[max(0, t.start - 30):t.start]) - word.start(1))
            graph.relations.append(Relation("modify", len(graph.entities), pid))
            graph.entities.append(Entity("modifier", word.group(1).lower(), start, start + len(word.group(1))))
    for a_id, a in zip(pathology_ids, terms):
        for b_id, b in zip(pathology_ids, terms):
            if b.start > a.end and b.sentence_index == a.sentence_index and _SUGGESTIVE.search(text[a.end:b.start]):
                graph.relations.append(Relation("suggestive_of", a_id, b_id))
                break
    return graph
