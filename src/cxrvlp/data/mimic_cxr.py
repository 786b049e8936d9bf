"""Adapter for the MIMIC-CXR-JPG 2.x layout (and the phantom, which writes the same layout).

Official release: MIMIC-CXR-JPG v2.0.0/2.1.0 (PhysioNet): ``files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg``,
``mimic-cxr-2.0.0-metadata.csv``, ``mimic-cxr-2.0.0-split.csv``, ``mimic-cxr-2.0.0-chexpert.csv``; reports from
MIMIC-CXR v2.0.0 as ``files/pXX/pNNNNNNNN/sNNNNNNNN.txt`` (same tree, or a separate ``reports_root``).
"""
from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from cxrvlp.data.study import ImageRecord, Study, view_kind
from cxrvlp.text.sections import split_sections

METADATA = "mimic-cxr-2.0.0-metadata.csv"
SPLIT = "mimic-cxr-2.0.0-split.csv"
CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv"
_SPLIT_NAMES = {"train": "train", "validate": "validate", "valid": "validate", "val": "validate", "test": "test"}


@dataclass
class SkipLog:
    """Counts and examples of inputs an adapter could not use; never silently dropped."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(where)

    def summary(self) -> str:
        if not self.counts:
            return "nothing skipped"
        return "; ".join(f"{n} {r} (e.g. {', '.join(self.examples[r][:2])})" for r, n in self.counts.most_common())


def _read_csv(path: Path, required: set[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; expected the MIMIC-CXR-JPG file {path.name}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}, line 1: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        return list(reader)


def _study_dir(root: Path, subject_id: str, study_id: str) -> Path:
    return root / "files" / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


def _label(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    x = float(value)
    return None if math.isnan(x) else x


def read_mimic_cxr(root: str | Path, reports_root: str | Path | None = None, splits: tuple[str, ...] = ("train", "validate", "test"),
                   skips: SkipLog | None = None) -> Iterator[Study]:
    """Yield one :class:`Study` per study that has a usable frontal image and a non-empty report.

    Studies without a frontal image or a report are counted in ``skips`` (a :class:`SkipLog`).
    """
    root = Path(root)
    reports_root = Path(reports_root) if reports_root else root
    skips = skips if skips is not None else SkipLog()
    meta = _read_csv(root / METADATA, {"dicom_id", "subject_id", "study_id", "ViewPosition"})
    split_rows = _read_csv(root / SPLIT, {"dicom_id", "study_id", "subject_id", "split"})
    split_of = {r["dicom_id"]: _SPLIT_NAMES.get(r["split"].strip().lower()) for r in split_rows}
    labels: dict[str, dict[str, float]] = {}
    if (root / CHEXPERT).is_file():
        for row in _read_csv(root / CHEXPERT, {"subject_id", "study_id"}):
            obs = {k: _label(v) for k, v in row.items() if k not in ("subject_id", "study_id")}
            labels[row["study_id"]] = {k: v for k, v in obs.items() if v is not None}

    by_study: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for line, row in enumerate(meta, start=2):
        row["_line"] = str(line)
        by_study[(row["subject_id"], row["study_id"])].append(row)

    for (subject_id, study_id), rows in by_study.items():
        split = split_of.get(rows[0]["dicom_id"])
        if split is None:
            skips.add("image without a split row", f"{METADATA}:{rows[0]['_line']}")
            continue
        if split not in splits:
            continue
        sdir = _study_dir(root, subject_id, study_id)
        frontal, lateral = [], []
        for row in rows:
            path = sdir / f"{row['dicom_id']}.jpg"
            kind = view_kind(row["ViewPosition"])
            if kind == "other":
                skips.add("unknown view code", f"{METADATA}:{row['_line']} ({row['ViewPosition']!r})")
                continue
            if not path.is_file():
                skips.add("missing image file", str(path))
                continue
            rec = ImageRecord(path=path, view=row["ViewPosition"].strip().upper(), image_id=row["dicom_id"])
            (frontal if kind == "frontal" else lateral).append(rec)
        if not frontal:
            skips.add("study without a frontal image", f"s{study_id}")
            continue
        report = _study_dir(reports_root, subject_id, study_id).with_suffix(".txt")
        if not report.is_file():
            skips.add("missing report", str(report))
            continue
        sections = split_sections(report.read_text(errors="replace"))
        study = Study(patient_id=subject_id, study_id=study_id, split=split, frontal=frontal, lateral=lateral,
                      sections=sections, labels=labels.get(study_id, {}), meta={"root": str(root)})
        if not study.report_text().strip():
            skips.add("empty report", str(report))
            continue
        yield study
