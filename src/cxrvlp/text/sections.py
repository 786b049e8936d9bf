"""Split a free-text radiology report into its sections (``FINDINGS``, ``IMPRESSION``, ...).

Handles the variants found in MIMIC-CXR and IU X-Ray / Open-i reports:

- known headings in any case ("IMPRESSION:", "Impression:", "impression:"), at the start of a line or straight
  after a sentence on the same line ("... No effusion. IMPRESSION: ...");
- any other upper-case heading at the start of a line ("PA AND LATERAL VIEWS OF THE CHEST:") under its own name;
- the wet read ("WET READ: ___ ___ 4:33 PM ...", "WET READ VERSION #1 ..."), NOTIFICATION, ADDENDUM;
- title lines ("FINAL REPORT") and separator lines ("_____"): a title ends the section before it and is kept in
  ``PREAMBLE`` with the text before the first heading; separator lines are dropped;
- IU X-Ray fields (``findings``, ``impression``, ``indication``, ``comparison``, ``image``) via
  :func:`sections_from_fields`.

Bodies keep their words as written (de-identification blanks included); only white space is collapsed. Use
:func:`cxrvlp.text.clean.clean_text` to prepare a body for a tokenizer.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

from cxrvlp.text.clean import collapse_whitespace, remove_separator_lines

# canonical name -> the spellings that mean it (matched case-insensitively)
KNOWN_HEADINGS: dict[str, tuple[str, ...]] = {
    "FINDINGS": ("findings", "finding"),
    "IMPRESSION": ("impression", "impressions", "conclusion", "conclusions", "findings and impression",
                   "findings/impression", "impression and findings", "opinion"),
    "INDICATION": ("indication", "indications", "history", "clinical history", "reason for exam",
                   "reason for examination", "reason for study", "clinical information", "clinical indication"),
    "EXAMINATION": ("examination", "exam", "study", "procedure", "type of examination", "image"),
    "TECHNIQUE": ("technique",),
    "COMPARISON": ("comparison", "comparisons"),
    "WET READ": ("wet read", "provisional findings impression (pfi)", "provisional findings impression"),
    "NOTIFICATION": ("notification",),
    "RECOMMENDATION": ("recommendation", "recommendations", "recommendation(s)"),
    "ADDENDUM": ("addendum",),
}
TITLES = ("FINAL REPORT", "PRELIMINARY REPORT")
_ALIASES = {spelling.upper(): name for name, spellings in KNOWN_HEADINGS.items() for spelling in spellings}

_KNOWN = "|".join(sorted((re.escape(s) for s in _ALIASES), key=len, reverse=True))
# A known heading at the start of a line, or after a sentence end on the same line ("... clear. IMPRESSION:").
_KNOWN_HEADING = re.compile(
    rf"(?:^|(?<=[.!?] ))[ \t]*(?P<name>{_KNOWN})(?P<version>[ \t]+version[ \t]*#?\d+)?[ \t]*(?P<colon>:)?",
    re.IGNORECASE | re.MULTILINE,
)
# Any upper-case phrase at the start of a line followed by a colon: "PA AND LATERAL VIEWS OF THE CHEST:".
_UPPER_HEADING = re.compile(r"^[ \t]*(?P<name>[A-Z][A-Z /&()-]{2,40}?)[ \t]*:", re.MULTILINE)
_TITLE = re.compile(rf"^[ \t]*(?P<name>{'|'.join(TITLES)})[ \t]*$", re.MULTILINE)


def canonical_heading(name: str) -> str:
    """``"Impressions"`` → ``"IMPRESSION"``; an unknown heading is returned upper-cased with single spaces."""
    name = " ".join(name.upper().split())
    return _ALIASES.get(name, name)


def _headings(text: str) -> list[tuple[int, int, str | None]]:
    """``(start, body_start, canonical name)`` per heading in order; the name is ``None`` for a title line."""
    found: list[tuple[int, int, str | None]] = []
    for m in _KNOWN_HEADING.finditer(text):
        # Without a colon, only an upper-case heading alone on its line ("IMPRESSION") or a versioned wet read
        # ("WET READ VERSION #1 ___ 4:33 PM") counts; "Exam is limited" is a sentence.
        alone = not text[m.end() :].split("\n", 1)[0].strip()
        if m.group("colon") or (m.group("name").isupper() and (alone or m.group("version"))):
            found.append((m.start("name"), m.end(), canonical_heading(m.group("name"))))
    for m in _UPPER_HEADING.finditer(text):
        found.append((m.start("name"), m.end(), canonical_heading(m.group("name"))))
    for m in _TITLE.finditer(text):
        found.append((m.start("name"), m.end(), None))
    found.sort(key=lambda h: (h[0], -h[1]))
    kept: list[tuple[int, int, str | None]] = []
    for heading in found:
        if not kept or heading[0] >= kept[-1][1]:
            kept.append(heading)
    return kept


def split_sections(text: str) -> dict[str, str]:
    """Return ``{HEADING: body}`` in order of appearance; text before the first heading and title lines go to
    ``PREAMBLE``.

    Whitespace inside a body is collapsed to single spaces. Repeated headings are joined. Headings are canonical
    (:data:`KNOWN_HEADINGS`: "CONCLUSION" → "IMPRESSION", "HISTORY" → "INDICATION", "WET READ VERSION #1" →
    "WET READ").
    """
    text = remove_separator_lines(text)
    sections: dict[str, str] = {}
    headings = _headings(text)

    def add(name: str, body: str) -> None:
        body = collapse_whitespace(body)
        if body:
            sections[name] = f"{sections[name]} {body}" if name in sections else body

    add("PREAMBLE", text[: headings[0][0]] if headings else text)
    for (start, body_start, name), (next_start, _, _) in zip(headings, headings[1:] + [(len(text), 0, None)]):
        if name is None:
            add("PREAMBLE", text[start:body_start])
            add("PREAMBLE", text[body_start:next_start])
        else:
            add(name, text[body_start:next_start])
    return sections


def sections_from_fields(fields: Mapping[str, object]) -> dict[str, str]:
    """Sections from a report stored as named fields (IU X-Ray CSV columns, Open-i XML ``AbstractText`` labels).

    Field names are made canonical like headings (``image`` → ``EXAMINATION``, ``indication`` → ``INDICATION``);
    empty, ``None`` and NaN values are left out.
    """
    sections: dict[str, str] = {}
    for name, value in fields.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        body = collapse_whitespace(str(value))
        if body:
            key = canonical_heading(name.replace("_", " "))
            sections[key] = f"{sections[key]} {body}" if key in sections else body
    return sections
