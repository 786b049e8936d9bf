"""A radiology lexicon for chest X-ray reports: CheXpert's 14 observations, pathology and anatomy terms, and the
negation / uncertainty cues with the words that end their scope.

The phrase lists are our own, written in the spirit of the public CheXpert labeler (Irvin et al., AAAI 2019) and
NegBio (Peng et al., 2018) lists, in the phrase syntax of :mod:`cxrvlp.text.phrases`. One object, :data:`LEXICON`,
serves every user: the rule labeler (:mod:`cxrvlp.text.labeler`), pathology-aware masking, concept graphs::

    from cxrvlp.text.lexicon import LEXICON, find_mentions
    LEXICON.pathology_terms["effusion"]        # surface forms of one pathology term
    find_mentions("Small left effusion.")      # [Mention(observation='Pleural Effusion', start=11, end=19, ...)]
    LEXICON.find_terms(text, "anatomy")        # [Term(term='left lower lobe', category='anatomy', ...)]
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from cxrvlp.text.phrases import PhraseSet
from cxrvlp.text.sentences import Sentence, sentence_index_at, split_sentences

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"


@dataclass(frozen=True)
class ObservationPhrases:
    """``mention``: phrases that report the observation (positive unless a cue says otherwise); ``normal``: phrases
    that state the structure is normal, i.e. the observation is negative ("heart size is normal");
    ``exclude``: phrases whose matches cancel an overlapping mention ("pericardial effusion")."""

    mention: tuple[str, ...]
    normal: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


_ENLARGED = "[enlarge*|large|larger|increased|widen*|prominen*]"
_NORMAL = ("[normal|within normal limits|within limits of normal|unremarkable|not enlarged|normal in size|"
           "normal size|upper limits of normal|upper limit of normal|upper limits normal|top normal|top-normal|"
           "upper normal|high normal|upper range of normal]")
_HEART = ("[heart|heart size|cardiac size|cardiac silhouette|cardiac shadow|cardiac contour|cardiac|"
          "cardiomediastinal silhouette|cardio mediastinal silhouette]")
_MEDIASTINUM = ("[mediastinum|mediastinal|mediastinal contour|mediastinal silhouette|cardiomediastinal|"
                "cardiomediastinal silhouette|cardiomediastinal contour|cardio mediastinal silhouette|"
                "cardio mediastinal|superior mediastinum|upper mediastinum|hilar and mediastinal contour]")
_VESSELS = "[vascular|vasculature|vascularity|vessels|vascular markings]"

OBSERVATIONS: dict[str, ObservationPhrases] = {
    # An enlarged cardiomediastinal silhouette counts for Enlarged Cardiomediastinum and Cardiomegaly alike:
    # CheXpert's hierarchy puts Cardiomegaly under Enlarged Cardiomediastinum, and the heart is most of it.
    "Enlarged Cardiomediastinum": ObservationPhrases(
        mention=(f"{_MEDIASTINUM} ... [widen*|enlarge*|prominen*|large]",
                 "[widen*|enlarge*|prominen*] [of the|of]? [superior|upper]? [mediastinum|mediastinal|"
                 "cardiomediastinal|cardiomediastinum] [silhouette|contour]?",
                 "[mediastinal|cardiomediastinal] [widening|enlargement|prominence]",
                 "enlarged cardiomediastinum", "mediastinal lipomatosis"),
        normal=(f"{_MEDIASTINUM} ... [normal|within normal limits|unremarkable]",
                f"[normal|unremarkable] {_MEDIASTINUM}",
                "heart and mediastinum ... [normal|within normal limits|unremarkable]")),
    "Cardiomegaly": ObservationPhrases(
        mention=("cardiomegaly", "cardiac enlargement", "enlarged heart", f"{_HEART} ... {_ENLARGED}",
                 "[enlarge*|increased] [size of the|size of]? [heart|cardiac|cardiomediastinal] [silhouette|"
                 "shadow|size|contour]?",
                 "enlargement of the [heart|cardiac silhouette|cardiac shadow|cardiomediastinal silhouette]",
                 "increase* in [the]? [heart|cardiac] size", "increase* in size of the cardiac silhouette",
                 "borderline heart size"),
        normal=(f"{_HEART} ... {_NORMAL}", "[normal|normal-sized] [heart|cardiac] [size|silhouette]?",
                f"heart and [mediastinum|lungs] ... {_NORMAL}")),
    "Lung Lesion": ObservationPhrases(
        mention=("nodul*", "fibronodular", "mass", "masses", "masslike", "mass-like", "lump", "tumor", "tumour",
                 "neoplasm*", "carcinoma", "cancer", "malignan*", "cavitary lesion", "cavitation", "cavity",
                 "pulmonary lesion", "lung lesion", "metastas*", "nodular [opacit*|densit*]"),
        exclude=("mass effect", "[soft tissue|breast|thyroid|neck] mass", "nodular [thickening|scarring|scar]",
                 "[thoracic|pleural|chest|abdominal] cavity")),
    "Lung Opacity": ObservationPhrases(
        mention=("opacit*", "opacification", "opacified", "infiltrat*", "[airspace|air space] disease",
                 "[airspace|air space] process", "densit*", "[interstitial|reticular|reticulonodular] [marking*|"
                 "pattern|prominence|opacit*|disease|changes|abnormalit*]", "reticulation", "haziness", "hazy",
                 "ground glass", "ground-glass", "infiltration"),
        exclude=("bone density", "bone densities", "osseous density", "soft tissue densit*", "nipple",
                 "breast density", "breast tissue", "breast shadows")),
    "Edema": ObservationPhrases(
        mention=("edema", "[pulmonary|interstitial|alveolar] edema", "heart failure", "cardiac failure",
                 "[early|mild|congestive] failure", "chf", "congestion", "congestive",
                 f"{_VESSELS} ... [prominen*|engorge*|indistinct*|congest*|redistribut*|increased|cephaliz*]",
                 f"[prominen*|engorge*|indistinct*|increased|redistribut*] ... {_VESSELS}",
                 "vascular [prominence|engorgement|indistinctness|redistribution]", "venous engorgement",
                 "pulmonary venous hypertension", "cephalization", "kerley b lines", "kerley lines",
                 "fluid overload"),
        normal=(f"{_VESSELS} ... [normal|within normal limits|within limits of normal|unremarkable]",
                f"[normal|unremarkable] [pulmonary]? {_VESSELS}"),
        exclude=("[soft tissue|subcutaneous|chest wall|extremity] edema", "nasal congestion")),
    "Consolidation": ObservationPhrases(mention=("consolidat*",)),
    "Pneumonia": ObservationPhrases(
        mention=("pneumonia*", "bronchopneumonia", "pneumonitis", "infection", "infectious [process|etiology]",
                 "aspiration"),
        exclude=("granulomatous infection", "[prior|old|previous] infection")),
    "Atelectasis": ObservationPhrases(mention=("atelecta*", "collapse", "collapsed")),
    "Pneumothorax": ObservationPhrases(
        mention=("pneumothora*", "hydropneumothorax", "hemopneumothorax", "pneumothoraces",
                 "[pleural|apical pleural] air", "air in the pleural space")),
    "Pleural Effusion": ObservationPhrases(
        mention=("effusion*", "pleural effusion*", "pleural fluid", "hydropneumothorax", "hemopneumothorax",
                 "hemothorax", "fluid [in the|within the] [pleural space|fissure|fissures]", "layering fluid",
                 "fluid [collection|collections]"),
        exclude=("pericardial effusion*", "joint effusion*", "pericardial fluid")),
    "Pleural Other": ObservationPhrases(
        mention=("pleural thickening", "pleural plaque*", "pleural [calcification*|scar*]", "fibrothorax",
                 "[pleural parenchymal|pleuroparenchymal|pleural-parenchymal|pleuro-parenchymal] [scar*|"
                 "thickening|changes]", "thickening of the pleura", "[apical|biapical] ... [thickening|cap|caps|"
                 "capping]", "apical capping", "[fissural|fissure] thickening",
                 "thickening [of|in] the [minor|major]? fissure")),
    "Fracture": ObservationPhrases(mention=("fractur*",)),
    # "XXXX with tip at the cavoatrial junction": a de-identified device is still named by its tip.
    "Support Devices": ObservationPhrases(
        mention=("pacemaker*", "pacer", "[aicd|icd]", "defibrillator", "leads", "lead",
                 "[catheter*|cannula]", "picc", "[central venous|central|venous|dialysis|swan ganz|port] line",
                 "[endotracheal|et|nasogastric|ng|og|orogastric|chest|feeding|tracheostomy|enteric] tube",
                 "tubes", "tube", "port", "port-a-cath", "portacath*", "porta cath", "mediport", "stent*",
                 "valve replacement", "[prosthetic|mechanical] valve", "prosthe*", "annuloplasty ring",
                 "hardware", "screw*", "plate", "plates", "rods", "drain", "drains", "device*", "electrode*",
                 "coil*", "arthroplasty", "stimulator", "generator", "reservoir", "pump", "filter", "tip", "tips"),
        exclude=("end plate*", "[scapular|scapula] tip",
                 "tip of the [left|right]? scapula")),
}

# Pathology words in the sense of F-L's masking lexicon (~44 terms): canonical term -> surface forms.
PATHOLOGY_TERMS: dict[str, tuple[str, ...]] = {
    "atelectasis": ("atelecta*",), "effusion": ("effusion",), "pneumothorax": ("pneumothora*",),
    "opacity": ("opacit*", "opacification", "opacified"), "cardiomegaly": ("cardiomegaly",),
    "consolidation": ("consolidat*",), "edema": ("edema", "oedema"), "nodule": ("nodul*",), "mass": ("mass",),
    "infiltrate": ("infiltrat*",), "pneumonia": ("pneumonia", "pneumonias", "bronchopneumonia"),
    "emphysema": ("emphysema*",), "fibrosis": ("fibrosis", "fibrotic", "fibrothorax"), "fracture": ("fractur*",),
    "hernia": ("hernia*",), "scarring": ("scar", "scars", "scarring", "scarred"),
    "granuloma": ("granuloma*", "granulomatous"), "calcification": ("calcifi*",), "congestion": ("congest*",),
    "thickening": ("thickening", "thickened"), "lesion": ("lesion",), "cyst": ("cyst", "cystic"),
    "cavitation": ("cavitation", "cavitary", "cavity", "cavities"), "bronchiectasis": ("bronchiectasis",),
    "hyperinflation": ("hyperinflat*", "hyperexpan*", "hyperdistention", "hyperaeration"),
    "hypoinflation": ("hypoinflat*", "low lung volumes", "hypoventilat*"),
    "enlargement": ("enlarge*",), "widening": ("widen*",), "tortuosity": ("tortuous", "tortuosity", "ectasia",
                                                                        "ectatic"),
    "blunting": ("blunt*",), "collapse": ("collapse", "collapsed"), "density": ("densit*",),
    "infection": ("infection*", "infectious"), "tumor": ("tumor*", "tumour*", "neoplasm*"),
    "metastasis": ("metasta*",), "lymphadenopathy": ("lymphadenopathy", "adenopathy"),
    "pneumomediastinum": ("pneumomediastinum",), "pneumoperitoneum": ("pneumoperitoneum", "free air"),
    "hemothorax": ("hemothorax", "haemothorax"), "kyphosis": ("kyphosis", "kyphotic"),
    "scoliosis": ("scoliosis", "scoliotic"), "degeneration": ("degenerat*", "spondylosis", "osteophyte*"),
    "elevation": ("elevation", "elevated"), "deformity": ("deformity", "deformities"),
    "airspace disease": ("[airspace|air space] disease",),
    "interstitial disease": ("interstitial [marking*|disease|pattern|prominence]",),
    "lucency": ("lucency", "lucencies", "hyperlucen*"),
}

ANATOMY_TERMS: dict[str, tuple[str, ...]] = {
    "right upper lobe": ("right upper lobe", "rul"), "right middle lobe": ("right middle lobe", "rml"),
    "right lower lobe": ("right lower lobe", "rll"), "left upper lobe": ("left upper lobe", "lul"),
    "left lower lobe": ("left lower lobe", "lll"), "lingula": ("lingula*",), "lobe": ("lobe", "lobar"),
    "upper zone": ("upper zone", "upper lung zone", "upper lung"), "mid zone": ("mid zone", "midlung",
                                                                              "mid lung zone", "mid lung"),
    "lower zone": ("lower zone", "lower lung zone", "lower lung"),
    "apex": ("apex", "apices", "apical", "biapical"), "base": ("base", "bases", "basilar", "bibasilar", "basal"),
    "lung": ("lung", "pulmonary", "parenchyma*"), "hilum": ("hilum", "hila", "hilar", "perihilar"),
    "costophrenic angle": ("costophrenic [angle|sulcus|sulci|recess]", "cp angle"),
    "hemidiaphragm": ("hemidiaphragm*", "diaphragm*"), "mediastinum": ("mediastin*",),
    "cardiomediastinal silhouette": ("cardiomediastinal", "cardio mediastinal"),
    "heart": ("heart", "cardiac"), "pericardium": ("pericardi*",), "aorta": ("aorta", "aortic"),
    "aortic arch": ("aortic [arch|knob]",), "pulmonary artery": ("pulmonary arter*",),
    "pulmonary vasculature": ("pulmonary vascula*", "vascularity", "vasculature"),
    "trachea": ("trachea", "tracheal", "paratracheal"), "carina": ("carina",), "bronchus": ("bronch*",),
    "pleura": ("pleura", "pleural", "pleural space"), "fissure": ("fissure",),
    "retrocardiac": ("retrocardiac",), "ribs": ("rib",), "clavicle": ("clavicle", "clavicular"),
    "spine": ("spine", "spinal", "vertebra*", "thoracic spine"), "sternum": ("sternum", "sternal"),
    "scapula": ("scapula*",), "shoulder": ("shoulder",), "chest wall": ("chest wall",),
    "soft tissues": ("soft tissue",), "upper abdomen": ("upper abdomen", "subdiaphragmatic", "abdomen"),
    "svc": ("superior vena cava", "svc", "cavoatrial junction"), "right atrium": ("right atrium", "atrium"),
    "axilla": ("axilla*",), "thorax": ("thorax", "thoracic", "chest"),
}

# Negation and uncertainty cues. A "pre" cue governs the mentions after it in its clause; a "post" cue the mention
# just before it (within RuleLabeler.post_cue_words words). A phrase in both lists ("versus") works both ways.
NEGATION_PRE = (
    "no", "not", "without", "negative for", "free of", "clear of", "no evidence of", "no signs of",
    "absence of", "absent", "resolution of", "resolved", "interval resolution of", "removal of", "removed",
    "rather than", "nor", "never", "ruled out", "no longer", "cleared", "clearing of", "lack of", "neither",
    "instead of", "no radiographic evidence of", "fails to demonstrate", "not demonstrate",
    "if [there is|there are]?",  # hypothetical: "if there is concern for fracture, ..." asserts nothing
)
NEGATION_POST = (
    "[is|are|was|were]? not [well]? [seen|identified|visualized|present|appreciated|evident|demonstrated|noted|"
    "detected|visible|apparent|shown|observed|well-seen|well-visualized]",
    "[may|might|can|could|would]? not be [well]? [seen|demonstrated|visualized|detected|apparent|evident|identified]",
    "[has|have|had]? resolved", "[has|have]? cleared", "[is|are] absent",
    "[is|are|has been|have been]? no longer [seen|visualized|present|evident|identified|visible|apparent]",
    "[has|have] been removed", "[is|are] gone", "[has|have]? [decreased|improved] to resolution",
    "ruled out", "[is|are] negative",
)
UNCERTAINTY_PRE = (
    "possible", "possibly", "probable", "probably", "likely", "most likely", "questionable", "question of",
    "questioned", "suspicious for", "suspected", "suspect", "suspicion of", "suggest*", "concerning for",
    "concern for", "worrisome for", "may", "might", "could", "cannot exclude", "can not exclude",
    "cannot rule out", "can not rule out", "differential diagnosis", "differential", "versus", "vs",
    "equivocal", "indeterminate", "uncertain", "borderline", "presumed", "presumably", "presumptive",
    "thought to represent", "rule out", "r/o", "evaluate for", "assess for", "raises the possibility of",
    "difficult to exclude", "may represent", "can be seen with", "unlikely", "question", "suspicion for",
    "favor*", "evaluation for", "correlate [clinically]? for", "[clinical]? correlation for",
)
UNCERTAINTY_POST = (
    "[is|are]? [not|not entirely]? excluded", "[cannot|can not] be [entirely]? [excluded|ruled out]",
    "[would be]? difficult to exclude",
    "[is|are]? [possible|suspected|questioned|likely|unlikely|probable|considered]", "versus", "vs",
    "not [entirely]? ruled out", "[could|can|may]? not be [entirely]? [excluded|ruled out]",
    "[is|are] a consideration", "[is|are] not [entirely]? [excluded|ruled out]", "[could|may|might] be present",
)
# Uncertainty cues that a negation before them turns into negation: "no consolidation to suggest pneumonia".
NEGATABLE_UNCERTAINTY = ("suggest*", "suspicious for", "concerning for", "concern for", "worrisome for")
# Phrases that look like cues but are not: "no change in the effusion" does not negate the effusion.
PSEUDO_CUES = (
    "no change", "no interval change", "no significant change", "no significant interval change", "not changed",
    "no increase", "no significant increase", "not significantly changed", "without change", "not only",
    "not necessarily", "no further", "not been changed", "without interval change", "gram negative",
    "not certain whether", "not excluded from",
)
# Words that end the scope of a cue (";" too). A "?" right after a word is an uncertainty cue ("pneumonia?").
SCOPE_STOPS = ("but", "however", "although", "though", "which", "whereas", "except", "aside from", "apart from",
               "other than", "with the exception of", "yet", "there is", "there are", "while", "otherwise",
               "as well as")


@dataclass(frozen=True)
class Mention:
    """An observation named in a report: ``text == report[start:end]``. ``normal`` marks a statement that the
    structure is normal ("heart size is normal"), which makes the observation negative."""

    observation: str
    start: int
    end: int
    text: str
    sentence_index: int
    normal: bool = False


@dataclass(frozen=True)
class Term:
    """A pathology or anatomy term in a report: ``text == report[start:end]``, ``term`` is its canonical form."""

    term: str
    category: str  # "pathology" | "anatomy"
    start: int
    end: int
    text: str
    sentence_index: int


@dataclass(frozen=True)
class Cue:
    """A negation / uncertainty cue; ``direction`` is "pre" (governs what follows), "post" or "both"."""

    polarity: str  # "negation" | "uncertainty"
    direction: str
    start: int
    end: int
    text: str
    negatable: bool = False


@dataclass(frozen=True)
class Lexicon:
    observations: dict[str, ObservationPhrases] = field(default_factory=lambda: dict(OBSERVATIONS))
    pathology_terms: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(PATHOLOGY_TERMS))
    anatomy_terms: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ANATOMY_TERMS))
    negation_pre: tuple[str, ...] = NEGATION_PRE
    negation_post: tuple[str, ...] = NEGATION_POST
    uncertainty_pre: tuple[str, ...] = UNCERTAINTY_PRE
    uncertainty_post: tuple[str, ...] = UNCERTAINTY_POST
    negatable_uncertainty: tuple[str, ...] = NEGATABLE_UNCERTAINTY
    pseudo_cues: tuple[str, ...] = PSEUDO_CUES
    scope_stops: tuple[str, ...] = SCOPE_STOPS

    @property
    def observation_names(self) -> tuple[str, ...]:
        """The CheXpert observations in CheXpert's column order, ``No Finding`` first."""
        return (NO_FINDING, *self.observations)

    # ---- compiled phrase sets (built once per lexicon, on first use) ----
    @cached_property
    def _observation_sets(self) -> dict[str, tuple[PhraseSet, PhraseSet, PhraseSet]]:
        return {name: (PhraseSet(p.mention), PhraseSet(p.normal), PhraseSet(p.exclude))
                for name, p in self.observations.items()}

    @cached_property
    def _term_sets(self) -> dict[str, list[tuple[str, PhraseSet]]]:
        return {"pathology": [(t, PhraseSet(forms)) for t, forms in self.pathology_terms.items()],
                "anatomy": [(t, PhraseSet(forms)) for t, forms in self.anatomy_terms.items()]}

    @cached_property
    def _cue_sets(self) -> list[tuple[str, str, PhraseSet]]:
        return [("negation", "pre", PhraseSet(self.negation_pre, plurals=False)),
                ("negation", "post", PhraseSet(self.negation_post, plurals=False)),
                ("uncertainty", "pre", PhraseSet(self.uncertainty_pre, plurals=False)),
                ("uncertainty", "post", PhraseSet(self.uncertainty_post, plurals=False)),
                ("pseudo", "pre", PhraseSet(self.pseudo_cues, plurals=False))]

    @cached_property
    def _negatable(self) -> PhraseSet:
        return PhraseSet(self.negatable_uncertainty, plurals=False)

    @cached_property
    def _stops(self) -> PhraseSet:
        return PhraseSet(self.scope_stops, plurals=False)

    # ---- matching ----
    def find_mentions(self, text: str, sentences: list[Sentence] | None = None) -> list[Mention]:
        """Mentions of the CheXpert observations in ``text``, ordered by position.

        Where a mention and a normal statement of the same observation overlap, the longer one wins ("vascular
        engorgement appears within normal limits" is a normal statement), the mention on a tie; excluded phrases
        cancel what they overlap ("pericardial effusion" is not a pleural effusion).
        """
        sentences = split_sentences(text) if sentences is None else sentences
        found: list[Mention] = []
        for name, (mention, normal, exclude) in self._observation_sets.items():
            hits = [(s, e, False) for s, e in mention.spans(text)] + [(s, e, True) for s, e in normal.spans(text)]
            excluded = list(exclude.spans(text)) if hits else []
            found += [Mention(name, s, e, text[s:e], sentence_index_at(sentences, s), is_normal)
                      for s, e, is_normal in _longest_non_overlapping(hits) if not _overlaps_any(s, e, excluded)]
        return sorted(found, key=lambda m: (m.start, m.end, m.observation))

    def find_terms(self, text: str, category: str = "pathology",
                   sentences: list[Sentence] | None = None) -> list[Term]:
        """Pathology (``category="pathology"``) or anatomy (``"anatomy"``) terms in ``text``, ordered by position;
        where two terms overlap the longer one is kept ("left lower lobe" over "lobe")."""
        if category not in self._term_sets:
            raise ValueError(f"unknown term category {category!r}; expected one of {sorted(self._term_sets)}")
        sentences = split_sentences(text) if sentences is None else sentences
        hits = [(s, e, term) for term, phrases in self._term_sets[category] for s, e in phrases.spans(text)]
        return [Term(term, category, s, e, text[s:e], sentence_index_at(sentences, s))
                for s, e, term in _longest_non_overlapping(hits)]

    def find_cues(self, text: str) -> list[Cue]:
        """Negation and uncertainty cues in ``text``, pseudo-cues ("no change") removed; where two cues overlap
        the longer one is kept ("cannot be excluded" over "not")."""
        hits = [(s, e, (polarity, direction)) for polarity, direction, phrases in self._cue_sets
                for s, e in phrases.spans(text)]
        hits += [(m.start(), m.end(), ("uncertainty", "post")) for m in _QUESTION_MARK.finditer(text)]
        pre = {(s, e, p) for s, e, (p, d) in hits if d == "pre"}
        post = {(s, e, p) for s, e, (p, d) in hits if d == "post"}
        negatable = list(self._negatable.spans(text))
        cues = []
        for s, e, (polarity, direction) in _longest_non_overlapping(hits):
            if polarity == "pseudo":
                continue
            if (s, e, polarity) in pre and (s, e, polarity) in post:
                direction = "both"
            cues.append(Cue(polarity, direction, s, e, text[s:e], negatable=_overlaps_any(s, e, negatable)))
        return cues

    def stop_spans(self, text: str) -> list[tuple[int, int]]:
        """Where cue scopes end: the scope-stop words and every ";"."""
        return sorted([*self._stops.spans(text), *((m.start(), m.end()) for m in _SEMICOLON.finditer(text))])


_QUESTION_MARK = re.compile(r"(?<=\w)\?")
_SEMICOLON = re.compile(";")


def _overlaps_any(s: int, e: int, spans) -> bool:
    return any(s < e2 and s2 < e for s2, e2 in spans)


def _longest_non_overlapping(hits: list[tuple[int, int, object]]) -> list[tuple[int, int, object]]:
    """Keep the longest of overlapping spans (the earliest on ties), returned in text order."""
    kept: list[tuple[int, int, object]] = []
    for s, e, tag in sorted(hits, key=lambda h: (-(h[1] - h[0]), h[0])):
        if not _overlaps_any(s, e, [(k[0], k[1]) for k in kept]):
            kept.append((s, e, tag))
    return sorted(kept, key=lambda h: (h[0], h[1]))


LEXICON = Lexicon()


def find_mentions(text: str, sentences: list[Sentence] | None = None) -> list[Mention]:
    """:meth:`Lexicon.find_mentions` of the default :data:`LEXICON`."""
    return LEXICON.find_mentions(text, sentences)
