"""Adapter for NIH ChestX-ray14 (Wang et al., CVPR 2017; NIH Clinical Center release of 2017, v2020 CSV update).

Layout: ``Data_Entry_2017.csv`` (or ``Data_Entry_2017_v2020.csv``) with the columns ``Image Index, Finding Labels,
Follow-up #, Patient ID, Patient Age, Patient Gender, View Position, OriginalImage[Width, Height],
OriginalImagePixelSpacing[x, y]``: the bracketed names contain commas, so a CSV reader sees ``OriginalImage[Width``
and ``Height]`` as two columns, and the 2017 file ends every line with a trailing comma (an unnamed column).
``BBox_List_2017.csv``: ``Image Index, Finding Label, Bbox [x,y,w,h]`` followed by three unnamed empty columns, so
the box is read by position. ``train_val_list.txt`` / ``test_list.txt``: the official patient-disjoint split, one
image name per line. Images: ``images*/`` folders (``images_001/images/00000001_000.png`` on Kaggle, ``images/`` in
the NIH box download), found by file name.

Each image is one study (``Finding Labels`` is per image). Labels: the 14 findings and ``No Finding`` (1/0 from the
pipe-separated list). Splits: train_val → train (``holdout_fraction`` of its patients, by patient hash, → validate),
test → test; without the lists, a patient-hash split.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.image_files import FileIndex
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, holdout_split, patient_split
from cxrvlp.data.study import Box, Study
from cxrvlp.data.tables import find_optional, locate, read_rows

RELEASE = "NIH ChestX-ray14"
FINDINGS = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
            "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia")
LABELS = FINDINGS + ("No Finding",)
ENTRY_COLUMNS = {"Image Index", "Finding Labels", "Patient ID", "View Position"}
_AGE = re.compile(r"^(\d+)([YMD]?)$")


def read_nih_cxr14(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                   skips: SkipLog | None = None, holdout_fraction: float = 0.1, seed: int = 0,
                   fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, progress: bool = True) -> Iterator[Study]:
    """Yield one :class:`Study` per image of ChestX-ray14 (see the module docstring)."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    entry_csv = locate(root, ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv"), RELEASE)
    official = _official_lists(root)
    boxes = _read_boxes(root, skips)
    images = FileIndex(root, progress=progress)
    for line, row in read_rows(entry_csv, ENTRY_COLUMNS, RELEASE, skips=skips):
        name, patient = row["Image Index"], row["Patient ID"]
        where = f"{entry_csv.name}:{line}"
        if official:
            listed = official.get(name)
            if listed is None:
                skips.add("image in neither train_val_list.txt nor test_list.txt", where)
                continue
            split = holdout_split(patient, holdout_fraction, seed) if listed == "train" else "test"
        else:
            split = patient_split(patient, seed, fractions)
        if split not in splits:
            continue
        found = set(t.strip() for t in row["Finding Labels"].split("|") if t.strip())
        unknown = found - set(LABELS)
        if unknown:
            skips.add("unknown finding label (ignored)", f"{where} ({sorted(unknown)})")
        path = images.get(name) or root / "images" / name
        ref = ImageRef(path, row["View Position"], image_id=name, where=where, boxes=boxes.get(name, []))
        study = assemble_study([ref], skips, patient_id=patient, study_id=Path(name).stem, split=split, where=where,
                               labels={label: float(label in found) for label in LABELS},
                               meta={"age_years": _age_years(row.get("Patient Age", "")),
                                     "sex": row.get("Patient Gender", row.get("Patient Sex", "")),
                                     "follow_up": row.get("Follow-up #", ""),
                                     "original_size": (row.get("OriginalImage[Width", ""), row.get("Height]", ""))})
        if study is not None:
            yield study


def _official_lists(root: Path) -> dict[str, str]:
    split_of = {}
    for name, split in (("train_val_list.txt", "train"), ("test_list.txt", "test")):
        path = find_optional(root, name)
        if path is not None:
            split_of.update({line.strip(): split for line in path.read_text().splitlines() if line.strip()})
    return split_of


def _read_boxes(root: Path, skips: SkipLog) -> dict[str, list[Box]]:
    """``BBox_List_2017.csv`` by position: name, label, x, y, w, h (pixels of the 1024² image)."""
    path = find_optional(root, "BBox_List_2017.csv")
    if path is None:
        return {}
    boxes: dict[str, list[Box]] = {}
    for line, row in read_rows(path, {"Image Index", "Finding Label"}, RELEASE, skips=skips):
        cells = list(row.values())
        try:
            x, y, w, h = (float(c) for c in cells[2:6])
        except ValueError:
            skips.add("malformed box row", f"{path.name}:{line} ({cells[2:6]})")
            continue
        boxes.setdefault(cells[0], []).append(Box(cells[1], x, y, x + w, y + h))
    return boxes


def _age_years(cell: str) -> float | None:
    """``58`` (v2020) or ``058Y`` / ``006M`` / ``020D`` (2017 file) → years."""
    match = _AGE.match(cell.strip())
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2) or "Y"
    return value / {"Y": 1.0, "M": 12.0, "D": 365.0}[unit]
