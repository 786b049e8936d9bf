"""Reading the tables of the public releases as they are: exact headers, line numbers in every error, blank/NaN cells.

Releases differ in small ways that break naive readers: SIIM-ACR writes ``ImageId, EncodedPixels`` (a leading space
in a column name), NIH ChestX-ray14 ends its header with empty names (``Bbox [x,y,w,h],,,``), pandas exports write
``nan`` for an empty cell, and some files carry ``#`` comment lines. :func:`read_rows` copes with all of them and
keeps each row's line number so a message can point at ``file:line``.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Iterable

from cxrvlp.data.skips import SkipLog

Row = dict[str, str]
BLANK_CELLS = frozenset({"", "nan", "NaN", "NAN", "None", "none", "null", "NULL", "N/A"})


def locate(root: str | Path, names: str | Iterable[str], release: str) -> Path:
    """Find an official file in ``root`` or one folder below it (archives unpack with or without a top folder).

    ``names`` may list alternatives (e.g. ``Data_Entry_2017_v2020.csv`` and ``Data_Entry_2017.csv``); the first
    that exists wins. A missing file is a :class:`FileNotFoundError` that names the release and the layout.
    """
    path = find_optional(root, names)
    if path is None:
        names = [names] if isinstance(names, str) else list(names)
        raise FileNotFoundError(f"{root}: no {' or '.join(names)} here or one folder below; expected the {release} "
                                "layout (see docs/datasets.md)")
    return path


def find_optional(root: str | Path, names: str | Iterable[str]) -> Path | None:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if (root / name).is_file():
            return root / name
    for name in names:
        below = sorted(p for p in root.glob(f"*/{name}") if p.is_file())
        if below:
            return below[0]
    return None


def read_rows(path: str | Path, required: Iterable[str], release: str, delimiter: str = ",",
              skips: SkipLog | None = None) -> list[tuple[int, Row]]:
    """Read a delimited table as ``[(line, {column: cell})]``; cells and column names are stripped of whitespace.

    Columns with an empty name (NIH's trailing ``,,,``) are dropped; lines starting with ``#`` before the header are
    comments. A row with fewer cells than the header is counted in ``skips`` as ``"malformed row"`` (or is an error
    without a skip log). ``line`` is the 1-based line where the row starts, so multi-line quoted cells count right.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; expected the {release} file {path.name}")
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        lines = _SkipLeadingComments(f)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file; expected a header with {sorted(required)}") from None
        names = [h.strip() for h in header]
        missing = set(required) - set(names)
        if missing:
            raise ValueError(f"{path}, line {lines.header_line}: missing column(s) {sorted(missing)} of the "
                             f"{release} layout; found {names}")
        keep = [(i, n) for i, n in enumerate(names) if n]
        needed = keep[-1][0] + 1 if keep else 0  # cells a row needs to reach its last named column
        rows: list[tuple[int, Row]] = []
        start = reader.line_num + 1
        for cells in reader:
            line = lines.header_line + start - 1
            start = reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) < needed:
                message = f"{path.name}:{line} ({len(cells)} cells, header has {needed})"
                if skips is None:
                    raise ValueError(f"{path}, line {line}: {len(cells)} cells, the header has {needed}")
                skips.add("malformed row", message)
                continue
            rows.append((line, {n: cells[i].strip() for i, n in keep}))
        return rows


class _SkipLeadingComments:
    """Iterate a file's lines, skipping ``#`` comment lines before the header; remembers the header's line number."""

    def __init__(self, f):
        self.f, self.header_line, self._seen_header = f, 1, False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.f)
        while not self._seen_header and line.lstrip().startswith("#"):
            self.header_line += 1
            line = next(self.f)
        self._seen_header = True
        return line


def is_blank(cell: str | None) -> bool:
    return cell is None or cell.strip() in BLANK_CELLS


def parse_label(cell: str | None) -> float | None:
    """A label cell → ``1.0`` / ``0.0`` / ``-1.0`` (or any number); ``None`` for a blank or NaN cell."""
    if is_blank(cell):
        return None
    value = float(cell)
    return None if math.isnan(value) else value


def read_labels(row: Row, names: Iterable[str], where: str, skips: SkipLog) -> dict[str, float]:
    """The non-blank label cells of ``row``; an unreadable cell is counted in ``skips`` and left out."""
    labels = {}
    for name in names:
        try:
            value = parse_label(row.get(name))
        except ValueError:
            skips.add("unreadable label cell", f"{where} ({name}={row.get(name)!r})")
            continue
        if value is not None:
            labels[name] = value
    return labels


def text_cell(row: Row, name: str) -> str:
    """A free-text cell with blank/NaN markers turned into ``""`` and whitespace collapsed."""
    cell = row.get(name)
    return "" if is_blank(cell) else " ".join(cell.split())
