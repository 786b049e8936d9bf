"""Clean report text for a tokenizer: separator lines, de-identification blanks, list numbers, white space."""
from __future__ import annotations

import re

from cxrvlp.text.sentences import list_number_spans

# A line made only of a repeated character: MIMIC's "______" rule between the wet read and the final report.
SEPARATOR_LINE = re.compile(r"^[ \t]*([_=*~-])\1{4,}[ \t]*$", re.MULTILINE)
# De-identification blanks: MIMIC-CXR writes "___", IU X-Ray / Open-i writes "XXXX".
DEID_BLANK = re.compile(r"_{2,}|(?<![A-Za-z])X{2,}(?![A-Za-z])")


def remove_separator_lines(text: str) -> str:
    return SEPARATOR_LINE.sub("", text)


def replace_deid_blanks(text: str, token: str | None = None) -> str:
    """Replace each de-identification blank by ``token``; ``None`` removes it (and the space it leaves)."""
    if token is not None:
        return DEID_BLANK.sub(token, text)
    return re.sub(r"[ \t]*(?:" + DEID_BLANK.pattern + r")", "", text)


def remove_list_numbers(text: str) -> str:
    """Drop list numbers ("1. ", "2) ") as :func:`cxrvlp.text.sentences.list_number_spans` finds them."""
    out, last = [], 0
    for start, end in list_number_spans(text):
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    return "".join(out)


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def clean_text(text: str, deid_token: str | None = None, list_numbers: bool = False) -> str:
    """Separator lines removed, de-id blanks replaced by ``deid_token`` (``None``: removed), list numbers removed
    unless ``list_numbers``, white space collapsed to single spaces, repeated final periods ("..") reduced to one."""
    text = remove_separator_lines(text)
    text = replace_deid_blanks(text, deid_token)
    if not list_numbers:
        text = remove_list_numbers(text)
    text = re.sub(r"\.(?:\s*\.)+(?=\s|$)", ".", text)
    return collapse_whitespace(text)
