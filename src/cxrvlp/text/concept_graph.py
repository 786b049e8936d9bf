"""Report concept graphs (CGA, issue 13 part 1): anatomy and pathology entities of a report and the relations
between them, after RadGraph's schema, by rules over the project's lexicon.

- **Anatomy nodes** come from a fixed vocabulary, :data:`ANATOMY_NODES`, so that a report's graph and an image's
  graph have the same node types (left / right lung and its upper, mid and lower zones, hila, costophrenic angles,
  hemidiaphragms, heart, mediastinum). A lexicon anatomy term maps to nodes with its sides: those stated in the
  term or right before it ("left", "right", "bilateral", "bibasilar"); for a singular paired term with none
  ("the costophrenic angle", "pleural line"), the side last stated before it in its clause ("left effusion with
  blunting of the costophrenic angle"); otherwise both sides ("lungs", "bases", "pulmonary": a *default* side).
  Lobes map to zones (upper lobe → upper zone, middle lobe and lingula → mid zone, lower lobe → lower zone);
  apex → upper zone; base → lower zone; retrocardiac and "behind the heart" → left lower zone.
- **Pathology entities** are the lexicon's pathology terms (plus a few surface forms reports use: "pleural fluid",
  "PTX", "volume loss" as collapse, "airspace opacity" as airspace disease, "levoscoliosis":
  :data:`EXTRA_PATHOLOGY_FORMS`), with the labeler's status (positive, negative, uncertain:
  :meth:`cxrvlp.text.labeler.RuleLabeler.label_spans`).
- **Relations**:
  - ``located_at`` (pathology → anatomy node). Each clause is cut into *segments* at commas and at "and", "or",
    "with", "as well as"; a pathology is located at the anatomy of its own segment ("left lower lobe opacity and a
    small right effusion": the opacity at the left lower zone only). A segment with anatomy but no pathology
    belongs to the pathologies of the segment before it when it opens with a locative word ("in", "at", "within",
    "involving", "over", ...) or with the anatomy itself ("opacities in the right upper lobe and left lower lobe");
    not otherwise ("consolidation in the right middle lobe, obscuring the right heart border"). A pathology with no
    anatomy of its own shares the anatomy that follows the pathology coordinated right after it ("effusion and
    atelectasis at the left base"). Where a pathology still has none, a side stated in its segment gives the
    side's default site (:data:`_DEFAULT_SITE`: an effusion or pneumothorax in the side's lung, atelectasis in
    its lower zone; any other lung finding in the side's lung); cardiomegaly is at the heart. Of the nodes a
    pathology gets, default-side ones are dropped when a stated side exists ("pulmonary nodule ... right lower
    lung": not both lungs), and a node is dropped when a part of it is there too ("left lung base": the left
    lower zone only). A pathology left without anatomy that another one suggests takes that one's anatomy
    ("volume loss in the left lower lobe, consistent with atelectasis"), and so does one (with the pathologies
    coordinated with it) put in apposition after a comma and at most three words ("opacity in the left base,
    likely scarring or atelectasis"), unless it states a side;
  - ``suggestive_of`` (pathology → pathology): "A ... suggestive of / consistent with / compatible with /
    concerning for / may represent / reflecting B" in one sentence (and C in "B or C", "B/C", "B versus C");
  - ``modify`` (modifier → pathology): a size or severity word among the two words before the pathology (or
    before its anatomy term: "moderate right upper lobe consolidation"), in its clause ("small", "large", "mild",
    "moderate", "severe", "minimal", "trace", "focal", "patchy", ...).

The graph keeps character spans; the ``report_graph`` batch target maps them to tokens. Its quality against the
phantom's truth and the IU X-Ray MeSH terms: :mod:`cxrvlp.evaluation.concept_graphs`, docs/cga.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from cxrvlp.text.labeler import RuleLabeler
from cxrvlp.text.lexicon import ANATOMY_TERMS, PATHOLOGY_TERMS, Lexicon, Term
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
    "mediastinum": ("mediastinum",), "pleura": ("{s} lung",), "pulmonary vasculature": ("{s} lung",),
}
# where a pathology sits when its segment names no anatomy but a side (a lung finding not listed: the side's lung)
_DEFAULT_SITE = {"effusion": "{s} lung", "pneumothorax": "{s} lung", "atelectasis": "{s} lower zone",
                 "blunting": "{s} costophrenic angle", "elevation": "{s} hemidiaphragm"}
_NOT_LUNG = frozenset({"cardiomegaly", "fracture", "hernia", "tortuosity", "enlargement", "widening", "kyphosis",
                       "scoliosis", "degeneration", "deformity", "lymphadenopathy", "pneumomediastinum",
                       "pneumoperitoneum", "hyperinflation", "hypoinflation"})
_FIXED_SITE = {"cardiomegaly": ("heart",)}
# surface forms the concept graph reads beyond the shared lexicon's (which F-L's masking also uses)
EXTRA_PATHOLOGY_FORMS: dict[str, tuple[str, ...]] = {
    "effusion": ("pleural fluid",), "pneumothorax": ("ptx",), "collapse": ("volume loss",),
    "airspace disease": ("[airspace|air space] [opacit*|process]",),
    "scoliosis": ("dextroscolio*", "levoscolio*", "dextrocurvature", "levocurvature")}
EXTRA_ANATOMY_FORMS: dict[str, tuple[str, ...]] = {
    "retrocardiac": ("behind the heart",), "hilum": ("suprahilar", "infrahilar"),
    "costophrenic angle": ("costophrenic",)}  # "costophrenic XXXX": IU X-Ray's de-identification ate the noun
GRAPH_LEXICON = Lexicon(
    pathology_terms={t: forms + EXTRA_PATHOLOGY_FORMS.get(t, ()) for t, forms in PATHOLOGY_TERMS.items()},
    anatomy_terms={t: forms + EXTRA_ANATOMY_FORMS.get(t, ()) for t, forms in ANATOMY_TERMS.items()})
MODIFIERS = ("small", "large", "mild", "moderate", "severe", "minimal", "trace", "focal", "patchy", "tiny", "massive",
             "extensive", "subtle", "moderate-to-large", "small-to-moderate")
_SUGGESTIVE = re.compile(r"\b(suggestive of|consistent with|compatible with|concerning for|may represent|"
                         r"represents?|representing|reflects?|reflecting|likely|which could be|possibly)\b",
                         re.IGNORECASE)
_SIDE = re.compile(r"\b(right|left|bilateral|bilaterally|bibasilar|biapical|both)\b", re.IGNORECASE)
_PLURAL = re.compile(r"(?:[^us]s|sulci|hila)$|^bi", re.IGNORECASE)  # "lungs", "sulci", "bibasilar"; not "sulcus"
# terms whose side is never taken from the clause: "pulmonary", "lung" speak of the lungs as a whole
_NO_CONTEXT_SIDE = frozenset({"lung"})
_SEGMENT_BREAK = re.compile(r",|;|\b(?:and/or|and|or|with|without|as well as|but)\b", re.IGNORECASE)
# "granuloma on the left", "blunting of the costophrenic angles bilaterally"
_SIDE_AFTER = re.compile(r"[\w\s-]{0,24}?\b(?:on (?:the )?(right|left)|(bilaterally))\b", re.IGNORECASE)
_APPOSITION = re.compile(r"[^.;,]*,\s*(?:[\w-]+\s+){0,3}", re.IGNORECASE)  # ", XXXX subsegmental "
_COORDINATED = re.compile(r"\s*(?:,|/|\bor\b|\band\b|\bversus\b|\bvs\b\.?|\s)*", re.IGNORECASE)
_LOCATIVE = re.compile(r"^\s*(?:in|at|within|involving|over|along|of|near|overlying|projecting over|throughout|"
                       r"seen in|located in|in the region of)\b", re.IGNORECASE)
_BARE = re.compile(r"^\s*(?:(?:the|a|an)\s+)?(?:(?:right|left|bilateral)\s+)?$", re.IGNORECASE)
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
    if words & {"bilateral", "bilaterally", "bibasilar", "biapical", "both"} or {"left", "right"} <= words:
        return SIDES
    return tuple(s for s in SIDES if s in words)


def _side_before(text: str, start: int, window: int = 40) -> tuple[str, ...]:
    """The side stated in the few words before ``start`` (within its clause)."""
    before = re.split(r"[.;,]| and | with ", text[max(0, start - window):start])[-1]
    return _sides(before)


def _side_after(text: str, end: int) -> tuple[str, ...]:
    """The side in "... on the left" right after ``end`` (within its clause)."""
    m = _SIDE_AFTER.match(re.split(r"[.;,]", text[end:end + 40])[0])
    return () if m is None else SIDES if m.group(2) else (m.group(1).lower(),)


def _last_side(text: str) -> tuple[str, ...]:
    """The side named last in ``text`` ("left" in "left effusion with blunting of the")."""
    found = list(_SIDE.finditer(text))
    return _sides(found[-1].group(1)) if found else ()


@dataclass
class _Mention:
    """An anatomy term with its nodes; ``default`` when its sides are both by default (no side stated)."""

    term: Term
    nodes: list[int]  # entity indices
    default: bool


def _resolve(term: Term, text: str, clause: tuple[int, int]) -> tuple[list[str], bool]:
    """The nodes of an anatomy term and whether its sides are a default (module docstring)."""
    templates = _ANATOMY_MAP.get(term.term)
    if not templates:
        return [], False
    if not any("{s}" in t for t in templates):
        return list(templates), False
    sides, default = _sides(term.text) or _side_before(text, term.start) or _side_after(text, term.end), False
    if not sides and _PLURAL.search(term.text):  # "lungs", "bases": both, but no side stated ("bibasilar" is one)
        sides, default = SIDES, not term.text.lower().startswith("bi")
    if not sides and term.term not in _NO_CONTEXT_SIDE:
        sides = _last_side(text[clause[0]:term.start])
    if not sides:
        sides, default = SIDES, True
    return sorted({t.format(s=s) for t in templates for s in sides}), default


def _clauses(text: str) -> list[tuple[int, int]]:
    spans = []
    for sentence in split_sentences(text) or []:
        start = sentence.start
        for m in re.finditer(r";|, (?:and|but|with) |\bbut\b|\bhowever\b", text[sentence.start:sentence.end]):
            spans.append((start, sentence.start + m.start()))
            start = sentence.start + m.end()
        spans.append((start, sentence.end))
    return spans or [(0, len(text))]


def _segments(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` cut at commas and coordinating words (module docstring)."""
    cuts, start = [], lo
    for m in _SEGMENT_BREAK.finditer(text, lo, hi):
        cuts.append((start, m.start()))
        start = m.end()
    return cuts + [(start, hi)]


def _segment_of(text: str, clause: tuple[int, int], pos: int) -> tuple[int, int]:
    return next(((s0, s1) for s0, s1 in _segments(text, *clause) if s0 <= pos < s1), (pos, pos))


def _most_specific(nodes: list[int], graph: ReportGraph) -> list[int]:
    """Drop a lung node when a part of the same side's lung is there too (and repeated names)."""
    names = {graph.entities[i].name for i in nodes}
    out, seen = [], set()
    for i in nodes:
        name = graph.entities[i].name
        side = name.split(" ", 1)[0]
        if name in seen or (name == f"{side} lung" and any(n != name and n.startswith(side + " ") for n in names)):
            continue
        seen.add(name)
        out.append(i)
    return out


def extract_graph(text: str) -> ReportGraph:
    """The concept graph of one report (module docstring)."""
    graph = ReportGraph(text)
    terms = GRAPH_LEXICON.find_terms(text, "pathology")
    statuses = _LABELER.label_spans(text, [(t.start, t.end) for t in terms]) if terms else []
    pathology_ids = []
    for t, status in zip(terms, statuses):
        pathology_ids.append(len(graph.entities))
        graph.entities.append(Entity("pathology", t.term, t.start, t.end, status.value))
    clauses = _clauses(text)

    def clause_of(pos: int) -> tuple[int, int]:
        return next((c for c in clauses if c[0] <= pos < c[1]), (0, len(text)))

    mentions: list[_Mention] = []
    for a in GRAPH_LEXICON.find_terms(text, "anatomy"):
        names, default = _resolve(a, text, clause_of(a.start))
        if names:
            mentions.append(_Mention(a, list(range(len(graph.entities), len(graph.entities) + len(names))), default))
            graph.entities += [Entity("anatomy", n, a.start, a.end) for n in names]

    sites: dict[int, list[_Mention]] = {pid: [] for pid in pathology_ids}
    for lo, hi in clauses:
        segs = []  # (start, end, pathology indices into terms, anatomy mentions)
        for s0, s1 in _segments(text, lo, hi):
            segs.append((s0, s1, [k for k, t in enumerate(terms) if s0 <= t.start < s1],
                         [m for m in mentions if s0 <= m.term.start < s1]))
        for j, (s0, s1, path, anat) in enumerate(segs):
            for k in path:
                sites[pathology_ids[k]] += anat
            if anat and not path and j:  # anatomy continuing the previous pathology segment
                first = min(anat, key=lambda m: m.term.start).term.start
                prev = next((seg for seg in reversed(segs[:j]) if seg[2]), None)
                if prev is not None and (_LOCATIVE.match(text[s0:first]) or _BARE.match(text[s0:first])):
                    for k in prev[2]:
                        sites[pathology_ids[k]] += anat
        for j, (s0, s1, path, anat) in enumerate(segs[:-1]):  # "effusion and atelectasis at the left base"
            nxt = segs[j + 1]
            if path and not anat and nxt[2] and nxt[3]:
                after = [m for m in nxt[3] if m.term.start > terms[nxt[2][0]].end]
                for k in path:
                    sites[pathology_ids[k]] += after

    suggests = {}  # tail -> head of suggestive_of
    for i, a in enumerate(terms):
        j = next((j for j in range(i + 1, len(terms)) if terms[j].sentence_index == a.sentence_index
                  and _SUGGESTIVE.search(text[a.end:terms[j].start])), None)
        while j is not None:  # "A compatible with B or C": both
            graph.relations.append(Relation("suggestive_of", pathology_ids[i], pathology_ids[j]))
            suggests.setdefault(pathology_ids[j], pathology_ids[i])
            nxt = j + 1
            j = nxt if nxt < len(terms) and _COORDINATED.fullmatch(text[terms[j].end:terms[nxt].start]) else None
    for pid in pathology_ids:  # "volume loss in the left lower lobe, consistent with atelectasis"
        if not sites[pid] and pid in suggests:
            sites[pid] = list(sites[suggests[pid]])
    for k in range(1, len(terms)):  # "opacity in the left base, XXXX scarring or atelectasis"
        t, pid = terms[k], pathology_ids[k]
        seg = _segment_of(text, clause_of(t.start), t.start)
        if sites[pid] or t.term in _NOT_LUNG or _sides(text[seg[0]:t.start]):
            continue
        head = k  # the first pathology coordinated with this one ("scarring or atelectasis")
        while head > 0 and _COORDINATED.fullmatch(text[terms[head - 1].end:terms[head].start]):
            head -= 1
        prev = head - 1
        if prev >= 0 and sites[pathology_ids[prev]] and terms[prev].term not in _NOT_LUNG and \
                terms[prev].sentence_index == t.sentence_index and \
                _APPOSITION.fullmatch(text[terms[prev].end:terms[head].start]):
            sites[pid] = list(sites[pathology_ids[prev]])

    for pid, t in zip(pathology_ids, terms):
        found = [] if t.term in _FIXED_SITE else sites[pid]
        if found and not all(m.default for m in found):
            found = [m for m in found if not m.default]
        nodes = _most_specific([i for m in found for i in m.nodes], graph)
        if t.term not in _NOT_LUNG and any(graph.entities[i].name.split(" ", 1)[0] in SIDES for i in nodes):
            nodes = [i for i in nodes if graph.entities[i].name not in ("heart", "mediastinum")]
        if nodes:
            graph.relations += [Relation("located_at", pid, i) for i in nodes]
        else:
            implied = _FIXED_SITE.get(t.term, ())
            seg = _segment_of(text, clause_of(t.start), t.start)
            side = _sides(text[seg[0]:t.start]) or _side_after(text, t.end)
            if not implied and side and t.term not in _NOT_LUNG:
                implied = tuple(_DEFAULT_SITE.get(t.term, "{s} lung").format(s=s) for s in side)
            for node in implied:
                graph.relations.append(Relation("located_at", pid, len(graph.entities)))
                graph.entities.append(Entity("anatomy", node, t.start, t.end))
        anchor = t.start  # "moderate right upper lobe consolidation": look before the anatomy term
        anchor = next((m.term.start for m in reversed(mentions)
                       if m.term.end <= anchor and not text[m.term.end:anchor].strip()), anchor)
        off = max(0, anchor - 30)
        for w in reversed(list(re.finditer(r"[\w-]+", text[off:anchor]))[-2:]):  # the nearest first: "stable mild"
            if w.group(0).lower() in MODIFIERS and not re.search(r"[.;,]", text[off + w.end():anchor]):
                graph.relations.append(Relation("modify", len(graph.entities), pid))
                graph.entities.append(Entity("modifier", w.group(0).lower(), off + w.start(), off + w.end()))
                break
    return graph
