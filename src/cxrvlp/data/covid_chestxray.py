"""Adapter for the ieee8023 COVID-19 image data collection (Cohen, Morrison, Dao; arXiv:2003.11597, 2020).

Layout (github.com/ieee8023/covid-chestxray-dataset): ``metadata.csv`` with ``patientid, offset, sex, age, finding,
RT_PCR_positive, survival, ..., view, modality, date, location, folder, filename, doi, url, license,
clinical_notes, other_notes`` (older snapshots have fewer columns; those named in ``COLUMNS`` are required) and
images in ``<folder>/<filename>`` (``images/``; CT volumes in ``volumes/``).

X-ray rows only (CT rows are counted as skipped). A study is one patient on one day: ``(patientid, offset)``, its
id ``ieee8023-<patientid>_d<offset|NA>`` and its patient ``ieee8023-<patientid>`` as in ../shared/data's
covid_cxr_notes, so patient-hash splits agree across the two. ``view`` (PA, AP, AP Supine, L, ...) groups frontal and
lateral images. The text is the study's distinct ``clinical_notes`` (case descriptions, not radiology reports) under
``CLINICAL NOTES``. Labels come from ``finding``, old (``COVID-19, ARDS``) or hierarchical
(``Pneumonia/Viral/COVID-19``) style: each name in ``LABELS`` is 1 when it appears as a word, else 0; ``todo``
or blank findings give no labels.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, patient_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import is_blank, locate, read_rows, text_cell

RELEASE = "ieee8023 covid-chestxray-dataset"
COLUMNS = {"patientid", "offset", "finding", "view", "modality", "filename", "clinical_notes"}
LABELS = ("COVID-19", "ARDS", "SARS", "MERS", "Pneumocystis", "Streptococcus", "Klebsiella", "Legionella",
          "Mycoplasma", "Varicella", "Influenza", "Lipoid", "E.Coli", "Bacterial", "Viral", "Fungal", "Pneumonia",
          "No Finding")
NOTES_SECTION = "CLINICAL NOTES"
_UNKNOWN_FINDINGS = {"todo", "unknown"}


def finding_labels(finding: str) -> dict[str, float]:
    """``"COVID-19, ARDS"`` → COVID-19 = ARDS = 1, the other ``LABELS`` 0; ``{}`` for a blank or ``todo`` finding."""
    if is_blank(finding) or finding.strip().lower() in _UNKNOWN_FINDINGS:
        return {}
    return {name: float(bool(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", finding, re.IGNORECASE)))
            for name in LABELS}


@dataclass
class CovidImage:
    """One image row of an ieee8023-derived table, reduced to what grouping into studies needs."""

    patient_id: str
    study_id: str
    ref: ImageRef
    finding: str
    notes: str


def studies_from_images(images: Iterable[CovidImage], skips: SkipLog, *, splits: tuple[str, ...], seed: int,
                        fractions: tuple[float, float, float], require_report: bool,
                        meta_of=lambda group: {}) -> Iterator[Study]:
    """Group images by study; text = the distinct notes sorted and joined by newlines; labels from the first image
    whose finding is known; split = patient hash."""
    groups: dict[str, list[CovidImage]] = defaultdict(list)
    for image in images:
        groups[image.study_id].append(image)
    for study_id, group in groups.items():
        patient = group[0].patient_id
        split = patient_split(patient, seed, fractions)
        if split not in splits:
            continue
        notes = "\n".join(sorted({g.notes for g in group if g.notes}))
        labels = next((lab for lab in (finding_labels(g.finding) for g in group) if lab), {})
        meta = {"finding": next((g.finding for g in group if g.finding), ""), **meta_of(group)}
        study = assemble_study([g.ref for g in group], skips, patient_id=patient, study_id=study_id, split=split,
                               where=group[0].ref.where, sections={NOTES_SECTION: notes} if notes else {},
                               labels=labels, meta=meta, require_report=require_report)
        if study is not None:
            yield study


def read_covid_chestxray(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                         skips: SkipLog | None = None, require_report: bool = True, seed: int = 0,
                         fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
    """Yield the X-ray studies of ``metadata.csv`` (see the module docstring); ``require_report=False`` also yields
    studies without clinical notes."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    csv_path = locate(root, "metadata.csv", RELEASE)
    return studies_from_images(_metadata_images(csv_path, skips), skips, splits=splits, seed=seed,
                               fractions=fractions, require_report=require_report)


def _metadata_images(csv_path: Path, skips: SkipLog) -> Iterator[CovidImage]:
    for line, row in read_rows(csv_path, COLUMNS, RELEASE, skips=skips):
        where = f"{csv_path.name}:{line}"
        if row["modality"].strip().lower() not in ("x-ray", "xray", "cr", "dx"):
            skips.add("not an X-ray (modality column)", f"{where} ({row['modality']!r})")
            continue
        patient = f"ieee8023-{row['patientid']}"
        offset = row["offset"] if not is_blank(row["offset"]) else "NA"
        folder = row.get("folder") or "images"
        ref = ImageRef(csv_path.parent / folder / row["filename"], row["view"], image_id=row["filename"], where=where)
        yield CovidImage(patient, f"{patient}_d{offset}", ref, text_cell(row, "finding"),
                         text_cell(row, "clinical_notes"))
