"""A tiny phrase language for the radiology lexicon, compiled to one case-insensitive regular expression.

Syntax of one phrase (words separated by spaces)::

    pleural effusion              literal words; a space also matches a hyphen ("air space" = "air-space")
    atelecta*                     a word stem: any word starting with "atelecta"
    [heart|cardiac silhouette]    alternatives (each may hold several words and stems); ``[...]?`` is optional
    heart ... enlarged            a gap of up to four words inside one clause (no "but", "which", ";", ...)

With ``plurals=True`` every literal word also matches with a trailing "s"/"es" ("effusion" → "effusions"). A
phrase matches whole words only, and never right after a hyphen ("non-enlarged" is not "enlarged").
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

GAP_WORDS = 4
# Words that end a clause: a gap never runs across them (the labeler's scope rules use the same idea).
CLAUSE_BREAKERS = ("but", "however", "although", "though", "which", "whereas", "except", "while", "yet")
_GAP_WORD = rf"(?!(?:{'|'.join(CLAUSE_BREAKERS)})\b)[\w'/-]+"
_GAP = rf"(?:[\s,]+{_GAP_WORD}){{0,{GAP_WORDS}}}"
_SEP = r"[\s-]+"
_TOKEN = re.compile(r"\[[^\]]*\]\??|\.\.\.|[^\s\[]+")


def _word(word: str, plurals: bool) -> str:
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"[\w-]*"
    pattern = r"[\s-]?".join(re.escape(part) for part in word.split("-"))
    return pattern + "(?:s|es)?" if plurals and word[-1].isalpha() else pattern


def _words(text: str, plurals: bool) -> str:
    return _SEP.join(_word(w, plurals) for w in text.split())


def compile_phrase(phrase: str, plurals: bool = True) -> str:
    """The regular expression (without word boundaries) for one phrase of the syntax above."""
    pattern, needs_separator = "", False
    for token in _TOKEN.findall(phrase):
        if token == "...":
            if not needs_separator:
                raise ValueError(f"phrase {phrase!r}: a gap '...' needs a word before it")
            pattern += _GAP
            continue
        optional = token.startswith("[") and token.endswith("?")
        if token.startswith("["):
            regex = "(?:" + "|".join(_words(o, plurals) for o in token.rstrip("?")[1:-1].split("|")) + ")"
        else:
            regex = _words(token, plurals)
        if optional:
            pattern += f"(?:{_SEP}{regex})?" if needs_separator else f"(?:{regex}{_SEP})?"
        else:
            pattern += (_SEP if needs_separator else "") + regex
            needs_separator = True
    if not needs_separator:
        raise ValueError(f"phrase {phrase!r} has no required word")
    return pattern


class PhraseSet:
    """A set of phrases matched together; :meth:`spans` yields non-overlapping ``(start, end)`` left to right,
    preferring the longer phrase where two start at the same place."""

    def __init__(self, phrases: Iterable[str], plurals: bool = True):
        self.phrases = tuple(phrases)
        if not self.phrases:
            self.pattern = None
            return
        ordered = sorted(self.phrases, key=len, reverse=True)
        body = "|".join(f"(?:{compile_phrase(p, plurals)})" for p in ordered)
        self.pattern = re.compile(rf"(?<![\w-])(?:{body})(?!\w)", re.IGNORECASE)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        if self.pattern is not None:
            for m in self.pattern.finditer(text):
                yield m.start(), m.end()

    def __repr__(self) -> str:
        return f"PhraseSet({len(self.phrases)} phrases)"
