"""Split a free-text radiology report into its sections (MIMIC-CXR style headings such as ``FINDINGS:``)."""
from __future__ import annotations

import re

# A heading is an upper-case phrase at the start of a line followed by a colon: "FINDINGS:", "WET READ:", ...
_HEADING = re.compile(r"^[ \t]*([A-Z][A-Z /&()-]{2,40}?)[ \t]*:", re.MULTILINE)
_ALIASES = {
    "FINDING": "FINDINGS",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
    "HISTORY": "INDICATION",
    "CLINICAL HISTORY": "INDICATION",
    "REASON FOR EXAM": "INDICATION",
    "EXAM": "EXAMINATION",
    "COMPARISONS": "COMPARISON",
}


def split_sections(text: str) -> dict[str, str]:
    """Return ``{HEADING: body}`` in order of appearance; text before the first heading goes to ``PREAMBLE``.

    Whitespace inside a body is collapsed to single spaces. Repeated headings are joined.
    """
    sections: dict[str, str] = {}
    matches = list(_HEADING.finditer(text))
    starts = [m.start() for m in matches] + [len(text)]
    pre = text[: starts[0]].strip()
    if pre:
        sections["PREAMBLE"] = _clean(pre)
    for m, end in zip(matches, starts[1:]):
        name = " ".join(m.group(1).split())
        name = _ALIASES.get(name, name)
        body = _clean(text[m.end() : end])
        if body:
            sections[name] = f"{sections[name]} {body}".strip() if name in sections else body
    return sections


def _clean(s: str) -> str:
    return " ".join(s.split())
