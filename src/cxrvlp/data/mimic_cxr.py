"""Adapter for the MIMIC-CXR-JPG 2.x layout with MIMIC-CXR reports (and the phantom, which writes the same layout).

Official releases: MIMIC-CXR-JPG v2.0.0 / v2.1.0 (PhysioNet): ``files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg``,
``mimic-cxr-2.0.0-metadata.csv``, ``mimic-cxr-2.0.0-split.csv``, ``mimic-cxr-2.0.0-chexpert.csv`` (or
``-negbio.csv``); reports from MIMIC-CXR v2.0.0, either as the tree ``files/pXX/pNNNNNNNN/sNNNNNNNN.txt`` (in the
image tree or a separate ``reports_root``) or as the official ``mimic-cxr-reports.zip`` (same member paths).
"""
from __future__ import annotations

import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import official_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import read_labels, read_rows
from cxrvlp.text.sections import split_sections

__all__ = ["SkipLog", "read_mimic_cxr", "MimicReports"]

RELEASE = "MIMIC-CXR-JPG 2.x"
METADATA = "mimic-cxr-2.0.0-metadata.csv"
SPLIT = "mimic-cxr-2.0.0-split.csv"
LABEL_FILES = {"chexpert": "mimic-cxr-2.0.0-chexpert.csv", "negbio": "mimic-cxr-2.0.0-negbio.csv"}
REPORTS_ZIP = "mimic-cxr-reports.zip"


def _study_dir(root: Path, subject_id: str, study_id: str) -> Path:
    return root / "files" / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


class MimicReports:
    """Report text by (subject, study) from a report tree, the official reports zip, or both (tree first).

    ``reports_root`` may be a folder holding ``files/...`` or a ``.zip``; by default the image tree is searched and
    then ``<root>/mimic-cxr-reports.zip`` if it exists. Zip members may sit under a top folder
    (``mimic-cxr-reports/files/p10/...``).
    """

    def __init__(self, root: Path, reports_root: str | Path | None = None):
        given = Path(reports_root) if reports_root else None
        self.tree = given if given is not None and given.is_dir() else (root if given is None else None)
        zip_path = given if given is not None and given.suffix == ".zip" else root / REPORTS_ZIP
        if given is not None and self.tree is None and not given.is_file():
            raise FileNotFoundError(f"{given}: reports_root is neither a folder nor a zip file")
        self.zip_path = zip_path if zip_path.is_file() else None
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if self.zip_path is not None:
            try:
                self._zip = zipfile.ZipFile(self.zip_path)
            except zipfile.BadZipFile as e:
                raise ValueError(f"{self.zip_path}: not a readable zip ({e}); expected the MIMIC-CXR reports "
                                 "zip") from e
            for name in self._zip.namelist():
                at = name.find("files/")
                if at >= 0 and name.endswith(".txt"):
                    self._members[name[at:]] = name

    def where(self, subject_id: str, study_id: str) -> str:
        rel = f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}.txt"
        places = ([str(self.tree / rel)] if self.tree else []) + ([f"{self.zip_path}:{rel}"] if self.zip_path else [])
        return " or ".join(places) or rel

    def text(self, subject_id: str, study_id: str) -> str | None:
        if self.tree is not None:
            path = _study_dir(self.tree, subject_id, study_id).with_suffix(".txt")
            if path.is_file():
                return path.read_text(errors="replace")
        if self._zip is not None:
            member = self._members.get(f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}.txt")
            if member is not None:
                return self._zip.read(member).decode("utf-8", errors="replace")
        return None


def read_mimic_cxr(root: str | Path, reports_root: str | Path | None = None,
                   splits: tuple[str, ...] = ("train", "validate", "test"), skips: SkipLog | None = None,
                   labeler: str = "chexpert") -> Iterator[Study]:
    """Yield one :class:`Study` per study with a usable frontal image and a non-empty report.

    Views are grouped per study from ``ViewPosition``; labels come from the CheXpert (default) or NegBio CSV, blank
    and NaN cells meaning "not mentioned". Everything unusable is counted in ``skips`` with its file and line.
    """
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    meta = read_rows(root / METADATA, {"dicom_id", "subject_id", "study_id", "ViewPosition"}, RELEASE, skips=skips)
    split_rows = read_rows(root / SPLIT, {"dicom_id", "study_id", "subject_id", "split"}, RELEASE, skips=skips)
    split_of = {r["dicom_id"]: official_split(r["split"]) for _, r in split_rows}
    labels = _read_label_file(root, labeler, skips)
    reports = MimicReports(root, reports_root)

    by_study: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, row in meta:
        by_study[(row["subject_id"], row["study_id"])].append((line, row))

    for (subject_id, study_id), rows in by_study.items():
        first = f"{METADATA}:{rows[0][0]}"
        split = split_of.get(rows[0][1]["dicom_id"])
        if split is None:
            skips.add("image without a split row", first)
            continue
        if split not in splits:
            continue
        text = reports.text(subject_id, study_id)
        if text is None:
            skips.add("missing report", reports.where(subject_id, study_id))
            continue
        sdir = _study_dir(root, subject_id, study_id)
        refs = [ImageRef(sdir / f"{row['dicom_id']}.jpg", row["ViewPosition"], row["dicom_id"], f"{METADATA}:{line}")
                for line, row in rows]
        study = assemble_study(refs, skips, patient_id=subject_id, study_id=study_id, split=split, where=first,
                               sections=split_sections(text), labels=labels.get(study_id, {}),
                               meta={"root": str(root)}, require_report=True)
        if study is not None:
            yield study


def _read_label_file(root: Path, labeler: str, skips: SkipLog) -> dict[str, dict[str, float]]:
    if labeler not in LABEL_FILES:
        raise ValueError(f"labeler must be one of {sorted(LABEL_FILES)}, got {labeler!r}")
    path = root / LABEL_FILES[labeler]
    if not path.is_file():
        return {}
    rows = read_rows(path, {"subject_id", "study_id"}, RELEASE, skips=skips)
    names = [n for n in (rows[0][1] if rows else {}) if n not in ("subject_id", "study_id")]
    return {row["study_id"]: read_labels(row, names, f"{path.name}:{line}", skips) for line, row in rows}

