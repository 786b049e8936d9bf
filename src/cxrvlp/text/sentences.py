"""Sentence splitting for radiology reports, with character offsets into the original text.

A sentence ends at ``.``, ``!`` or ``?`` followed by white space, at a blank line, or before a list number
("1. ... 2. ..."). A period does not end a sentence inside a number ("1.5 cm": no white space follows), after a
known abbreviation ("Dr.", "approx.", "e.g.") or when it belongs to a list number itself ("2. No effusion").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ABBREVIATIONS = frozenset({
    "dr", "drs", "mr", "mrs", "ms", "prof", "approx", "apprx", "e.g", "i.e", "eg", "ie", "vs", "cf", "fig", "figs",
    "st", "pt", "pts", "lt", "rt", "lat", "ant", "incl", "resp", "hx", "dx",
})
# Abbreviations only when the next character says so: "No. 2" (number) but "... effusion: No. Heart ..."; a unit
# "1.5 cm. in the RUL" but "measures 1.5 cm. There is ...".
_CONDITIONAL_ABBREVIATIONS = {"no": str.isdigit, "nos": str.isdigit, "cm": str.islower, "mm": str.islower}

# A list number: "1." or "2)" or "(3)" standing alone as a word, followed by white space.
_LIST_NUMBER = re.compile(r"(?<![\w.,/-])\(?(\d{1,2})[.)](?=\s)")
_END = re.compile(r"[.!?]+[)\"']*(?=\s|$)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_WORD_BEFORE = re.compile(r"([\w./]+)$")


@dataclass(frozen=True)
class Sentence:
    """``text[start:end]`` of the report it was split from; ``index`` counts sentences from 0."""

    index: int
    start: int
    end: int
    text: str


def list_number_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of list numbers ("1.", "2)", "(3)"), white space after them included.

    A number counts when it opens the text or a line, follows ``.``/``:``/``;``, or continues the previous list
    number by one ("... disease 2. Changes ..."); a number inside a sentence ("rib 5. ") does not.
    """
    spans: list[tuple[int, int]] = []
    last = 0
    for m in _LIST_NUMBER.finditer(text):
        number = int(m.group(1))
        before = text[: m.start()].rstrip(" \t")
        opens = not before or before[-1] in "\n.:;!?"
        if opens or (spans and number == last + 1):
            end = m.end()
            while end < len(text) and text[end].isspace():
                end += 1
            spans.append((m.start(), end))
            last = number
    return spans


def _is_abbreviation(text: str, period: int) -> bool:
    word = _WORD_BEFORE.search(text[:period])
    if not word:
        return False
    token = word.group(1).lower().strip("./")
    following = text[period + 1 :].lstrip()[:1]
    if token in _CONDITIONAL_ABBREVIATIONS:
        return bool(following) and _CONDITIONAL_ABBREVIATIONS[token](following)
    if token in ABBREVIATIONS:
        return True
    # A dotted token ("p.m.", "a.k.a.") ends the sentence only when a capital letter follows.
    return "." in token and token.replace(".", "").isalpha() and not following.isupper()


def _boundaries(text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Sentence-end offsets and the list-number spans (which start a sentence and belong to none)."""
    numbers = list_number_spans(text)
    number_periods = {text.index(".", s) for s, e in numbers if "." in text[s:e]}
    ends: set[int] = set()
    for m in _END.finditer(text):
        first = m.start()
        if first in number_periods or (m.group(0)[0] == "." and m.end() - first == 1
                                       and _is_abbreviation(text, first)):
            continue
        ends.add(m.end())
    ends.update(m.start() for m in _BLANK_LINE.finditer(text))
    ends.update(s for s, _ in numbers)
    return sorted(ends), numbers


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences whose ``start``/``end`` index the original string (white space trimmed)."""
    ends, numbers = _boundaries(text)
    skip = {s: e for s, e in numbers}
    sentences: list[Sentence] = []
    start = 0
    for end in ends + [len(text)]:
        if end <= start:
            continue
        s, e = start, end
        while s < e and (text[s].isspace() or s in skip):
            s = skip[s] if s in skip else s + 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            sentences.append(Sentence(len(sentences), s, e, text[s:e]))
        start = end
    return sentences


def sentence_index_at(sentences: list[Sentence], offset: int) -> int:
    """Index of the sentence containing character ``offset`` (the previous one when it falls between two)."""
    lo, hi = 0, len(sentences)
    while lo < hi:
        mid = (lo + hi) // 2
        if sentences[mid].start <= offset:
            lo = mid + 1
        else:
            hi = mid
    return max(lo - 1, 0)
