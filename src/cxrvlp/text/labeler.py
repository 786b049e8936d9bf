"""A rule-based radiology report labeler for CheXpert's 14 observations (in the spirit of the CheXpert labeler and
NegEx/NegBio, without a parser).

For each mention found by the lexicon (:func:`cxrvlp.text.lexicon.Lexicon.find_mentions`):

1. Its **clause** is its sentence cut at the scope stops around it ("but", "however", "which", ";", ...).
2. A **normal statement** ("heart size is normal") is negative.
3. Otherwise the **nearest cue** in the clause decides: a "pre" cue before (or inside) the mention, a "post" cue
   at most ``post_cue_words`` words after it; distance is counted in characters, a pre cue wins a tie.
   Negation → negative, uncertainty → uncertain, no cue → positive.
4. An evidential uncertainty cue ("suggest", "concerning for") preceded by a negation in the clause is negated:
   "no consolidation to suggest pneumonia" makes pneumonia negative.

An observation is positive if any mention is positive, else uncertain if any is uncertain, else negative if any
is negative, else absent. ``No Finding`` is positive when no other observation except Support Devices is
positive or uncertain, and absent otherwise (CheXpert's rule).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from cxrvlp.text.lexicon import LEXICON, NO_FINDING, SUPPORT_DEVICES, Cue, Lexicon, Mention
from cxrvlp.text.sentences import Sentence, sentence_index_at, split_sentences

_WORD = re.compile(r"[\w'/-]+")


class Status(str, Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    ABSENT = "absent"

    @property
    def chexpert(self) -> float | None:
        """CheXpert's convention: 1 positive, 0 negative, -1 uncertain, blank (``None``) not mentioned."""
        return _CHEXPERT_VALUE[self]


_CHEXPERT_VALUE = {Status.POSITIVE: 1.0, Status.NEGATIVE: 0.0, Status.UNCERTAIN: -1.0, Status.ABSENT: None}
_PRIORITY = (Status.POSITIVE, Status.UNCERTAIN, Status.NEGATIVE)


@dataclass(frozen=True)
class MentionLabel:
    """The decision on one mention: ``cue`` is the cue that decided (``None`` when none did) and ``rule`` says
    which rule applied: "no cue", "normal statement", "pre-negation", "post-negation", "pre-uncertainty",
    "post-uncertainty" or "negated evidential cue"."""

    mention: Mention
    status: Status
    rule: str
    cue: Cue | None = None


@dataclass(frozen=True)
class ObservationLabel:
    observation: str
    status: Status
    mentions: tuple[MentionLabel, ...] = ()


@dataclass(frozen=True)
class ReportLabels:
    """The labels of one report: ``observations`` holds every observation of the lexicon, ``No Finding`` first."""

    text: str
    observations: dict[str, ObservationLabel]

    def __getitem__(self, observation: str) -> Status:
        return self.observations[observation].status

    def chexpert(self) -> dict[str, float | None]:
        """``{observation: 1.0 | 0.0 | -1.0 | None}`` (CheXpert's 1 / 0 / -1 / blank)."""
        return {name: label.status.chexpert for name, label in self.observations.items()}

    def study_labels(self) -> dict[str, float]:
        """The :class:`cxrvlp.data.study.Study` ``labels`` convention: mentioned observations only."""
        return {name: value for name, value in self.chexpert().items() if value is not None}


class RuleLabeler:
    """Label reports with the rules of this module; ``lexicon`` supplies phrases, cues and scope stops."""

    def __init__(self, lexicon: Lexicon = LEXICON, post_cue_words: int = 5):
        self.lexicon = lexicon
        self.post_cue_words = post_cue_words

    def label(self, text: str) -> ReportLabels:
        sentences = split_sentences(text)
        mentions = self.lexicon.find_mentions(text, sentences)
        cues = self.lexicon.find_cues(text)
        # a stop inside a cue is part of the cue: "if there is concern for fracture"
        stops = [(s, e) for s, e in self.lexicon.stop_spans(text) if not any(c.start <= s < c.end for c in cues)]
        decided: dict[str, list[MentionLabel]] = {}
        for mention in mentions:
            sentence = sentences[mention.sentence_index] if sentences else Sentence(0, 0, len(text), text)
            clause = _clause(mention, sentence, stops)
            decided.setdefault(mention.observation, []).append(self._decide(text, mention, clause, cues))
        return self._aggregate(text, decided)

    def label_spans(self, text: str, spans: Iterable[tuple[int, int]]) -> list[Status]:
        """The status rules 1, 3 and 4 give arbitrary character spans of ``text`` (``[start, end)``, e.g.
        pathology terms that are no lexicon mention, such as "blunting"): each span is treated as a mention that
        is not a normal statement, with its clause and the nearest cue deciding."""
        sentences = split_sentences(text)
        cues = self.lexicon.find_cues(text)
        stops = [(s, e) for s, e in self.lexicon.stop_spans(text) if not any(c.start <= s < c.end for c in cues)]
        out = []
        for start, end in spans:
            index = sentence_index_at(sentences, start) if sentences else 0
            sentence = sentences[index] if sentences else Sentence(0, 0, len(text), text)
            mention = Mention("", start, end, text[start:end], index)
            out.append(self._decide(text, mention, _clause(mention, sentence, stops), cues).status)
        return out

    def label_many(self, texts: Iterable[str], progress: bool = False, total: int | None = None,
                   description: str = "labelling reports") -> list[ReportLabels]:
        """:meth:`label` over many texts, with a rich progress bar when ``progress``."""
        if not progress:
            return [self.label(t) for t in texts]
        from rich.progress import track

        return [self.label(t) for t in track(texts, description=description, total=total)]

    def _decide(self, text: str, mention: Mention, clause: tuple[int, int], cues: list[Cue]) -> MentionLabel:
        if mention.normal:
            return MentionLabel(mention, Status.NEGATIVE, "normal statement")
        start, end = clause
        candidates: list[tuple[int, int, Cue, str]] = []  # (distance, 0 for pre / 1 for post, cue, side)
        for cue in cues:
            if cue.start < start or cue.end > end:
                continue
            if cue.direction in ("pre", "both") and cue.end <= mention.end:  # before it, or inside a long one
                candidates.append((max(0, mention.start - cue.end), 0, cue, "pre"))
            elif (cue.direction in ("post", "both") and cue.start >= mention.end
                  and len(_WORD.findall(text[mention.end : cue.start])) <= self.post_cue_words):
                candidates.append((cue.start - mention.end, 1, cue, "post"))
        if not candidates:
            return MentionLabel(mention, Status.POSITIVE, "no cue")
        _, _, cue, side = min(candidates, key=lambda c: (c[0], c[1]))
        if cue.polarity == "negation":
            return MentionLabel(mention, Status.NEGATIVE, f"{side}-negation", cue)
        if cue.negatable and side == "pre":
            negation = [c for c in cues if c.polarity == "negation" and c.direction in ("pre", "both")
                        and start <= c.start and c.end <= cue.start]
            if negation:
                return MentionLabel(mention, Status.NEGATIVE, "negated evidential cue", negation[-1])
        return MentionLabel(mention, Status.UNCERTAIN, f"{side}-uncertainty", cue)

    def _aggregate(self, text: str, decided: dict[str, list[MentionLabel]]) -> ReportLabels:
        observations: dict[str, ObservationLabel] = {}
        for name in self.lexicon.observations:
            labels = tuple(decided.get(name, ()))
            status = next((s for s in _PRIORITY if any(m.status is s for m in labels)), Status.ABSENT)
            observations[name] = ObservationLabel(name, status, labels)
        findings = any(label.status in (Status.POSITIVE, Status.UNCERTAIN)
                       for name, label in observations.items() if name != SUPPORT_DEVICES)
        no_finding = ObservationLabel(NO_FINDING, Status.ABSENT if findings else Status.POSITIVE)
        return ReportLabels(text, {NO_FINDING: no_finding, **observations})


def _clause(mention: Mention, sentence: Sentence, stops: list[tuple[int, int]]) -> tuple[int, int]:
    """The part of ``sentence`` between the scope stops around ``mention``."""
    start, end = sentence.start, sentence.end
    for s, e in stops:
        if s >= sentence.end:
            break
        if e <= mention.start and e > start:
            start = e
        elif s >= mention.end:
            end = min(end, s)
            break
    return start, end


_DEFAULT = RuleLabeler()


def label_report(text: str) -> ReportLabels:
    """Label one report text with the default :class:`RuleLabeler`."""
    return _DEFAULT.label(text)
