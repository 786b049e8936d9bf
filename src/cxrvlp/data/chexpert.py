"""Adapter for CheXpert v1.0 (Irvin et al., AAAI 2019; Stanford AIMI), full or ``-small`` release.

Layout: ``CheXpert-v1.0[-small]/train.csv``, ``valid.csv`` (and ``test.csv`` where a labelled test list is present)
with columns ``Path, Sex, Age, Frontal/Lateral, AP/PA`` and the 14 observations; ``Path`` is relative to the folder
*above* ``CheXpert-v1.0[-small]`` (``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``). Cells are
1 (positive), 0 (negative), -1 (uncertain) or blank (not mentioned).

Images are grouped into studies by ``patientNNNNN/studyN`` from the path; ``Frontal/Lateral`` with ``AP/PA`` gives
the view code (``AP``, ``PA``, ``LL``, ``RL``, or ``FRONTAL``/``LATERAL`` when AP/PA is blank).

Uncertain labels follow a per-label policy (CheXpert paper, sec. 4): ``ones`` (U-Ones, -1 → 1), ``zeros``
(U-Zeros, -1 → 0), ``ignore`` (U-Ignore, the label is left out and masked from the loss) or ``keep`` (stays -1).
The default ``"mgca"`` is the GLoRIA/MGCA mapping for the five competition tasks (Atelectasis, Edema, Pleural
Effusion → 1; Cardiomegaly, Consolidation → 0) and ``ignore`` for the other nine.

Splits: ``train.csv`` → train, ``valid.csv`` → validate, ``test.csv`` → test. With ``holdout_fraction > 0`` a
patient-hash share of train becomes validate and ``valid.csv`` becomes test (the GLoRIA/MGCA protocol).
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import holdout_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import find_optional, read_labels, read_rows

RELEASE = "CheXpert v1.0"
CHEXPERT_14 = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
               "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
               "Pneumothorax", "Support Devices")
COMPETITION_TASKS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
MGCA_UNCERTAINTY = {"Atelectasis": "ones", "Cardiomegaly": "zeros", "Consolidation": "zeros", "Edema": "ones",
                    "Pleural Effusion": "ones"}
POLICIES = {"ones": 1.0, "zeros": 0.0, "ignore": None, "keep": -1.0}
CSV_COLUMNS = {"Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_14}
_STUDY = re.compile(r"^(patient\d+)/(study\d+)/[^/]+$")


def uncertainty_policy(uncertainty: str | Mapping[str, str] = "mgca") -> dict[str, str]:
    """Resolve ``"mgca"``, one policy for all labels, or a per-label mapping (others: ``ignore``) to all 14 labels."""
    if isinstance(uncertainty, str):
        if uncertainty == "mgca":
            policy = {name: MGCA_UNCERTAINTY.get(name, "ignore") for name in CHEXPERT_14}
        else:
            policy = {name: uncertainty for name in CHEXPERT_14}
    else:
        unknown = set(uncertainty) - set(CHEXPERT_14)
        if unknown:
            raise ValueError(f"uncertainty policy for unknown CheXpert label(s) {sorted(unknown)}; "
                             f"known: {CHEXPERT_14}")
        policy = {name: uncertainty.get(name, "ignore") for name in CHEXPERT_14}
    bad = {p for p in policy.values() if p not in POLICIES}
    if bad:
        raise ValueError(f"unknown uncertainty policy {sorted(bad)}; use one of {sorted(POLICIES)} or 'mgca'")
    return policy


def apply_uncertainty(labels: dict[str, float], policy: Mapping[str, str], blank_as_negative: bool = False,
                      names: tuple[str, ...] = CHEXPERT_14) -> dict[str, float]:
    out = {}
    for name in names:
        value = labels.get(name)
        if value is None:
            if blank_as_negative:
                out[name] = 0.0
            continue
        if value == -1.0:
            value = POLICIES[policy[name]]
        if value is not None:
            out[name] = value
    return out


def read_chexpert(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                  skips: SkipLog | None = None, uncertainty: str | Mapping[str, str] = "mgca",
                  blank_as_negative: bool = False, holdout_fraction: float = 0.0, seed: int = 0) -> Iterator[Study]:
    """Yield one :class:`Study` per CheXpert study with a usable frontal image (see the module docstring)."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    policy = uncertainty_policy(uncertainty)
    train_csv = find_optional(root, "train.csv")
    if train_csv is None and find_optional(root, "valid.csv") is None:
        raise FileNotFoundError(f"{root}: no train.csv or valid.csv here or one folder below; expected the "
                                f"{RELEASE} layout (CheXpert-v1.0[-small]/train.csv)")
    tables = {"train": train_csv, "validate": find_optional(root, "valid.csv"), "test": find_optional(root, "test.csv")}
    for official, csv_path in tables.items():
        if csv_path is None:
            continue
        for study in _read_table(csv_path, official, skips, policy, blank_as_negative, holdout_fraction, seed):
            if study.split in splits:
                yield study


def _read_table(csv_path: Path, official: str, skips: SkipLog, policy, blank_as_negative: bool,
                holdout_fraction: float, seed: int) -> Iterator[Study]:
    by_study: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, row in read_rows(csv_path, CSV_COLUMNS, RELEASE, skips=skips):
        rel = PurePosixPath(row["Path"].replace("\\", "/"))
        match = _STUDY.match("/".join(rel.parts[-3:]))
        if not match:
            skips.add("path not of the form .../patientN/studyN/viewN.jpg", f"{csv_path.name}:{line} ({row['Path']})")
            continue
        by_study[match.groups()].append((line, row))
    for (patient, study_name), rows in by_study.items():
        where = f"{csv_path.name}:{rows[0][0]}"
        split = official
        if holdout_fraction > 0:
            split = holdout_split(patient, holdout_fraction, seed) if official == "train" else "test"
        refs = [ImageRef(_image_path(csv_path, row["Path"]), _view(row), image_id=row["Path"],
                         where=f"{csv_path.name}:{line}") for line, row in rows]
        raw = read_labels(rows[0][1], CHEXPERT_14, where, skips)
        labels = apply_uncertainty(raw, policy, blank_as_negative)
        first = rows[0][1]
        study = assemble_study(refs, skips, patient_id=patient, study_id=f"{patient}/{study_name}", split=split,
                               where=where, labels=labels,
                               meta={"sex": first["Sex"], "age": first["Age"], "raw_labels": raw})
        if study is not None:
            yield study


def _view(row: dict[str, str]) -> str:
    """``AP/PA`` when given (AP, PA, LL, RL), else the ``Frontal/Lateral`` column; an unknown code stays as is."""
    return row["AP/PA"] or row["Frontal/Lateral"]


def _image_path(csv_path: Path, rel: str) -> Path:
    """``Path`` is relative to the parent of ``CheXpert-v1.0[-small]``; also accept it relative to the CSV folder."""
    rel_path = Path(rel.replace("\\", "/"))
    for base in (csv_path.parent.parent, csv_path.parent):
        if (base / rel_path).is_file():
            return base / rel_path
    if len(rel_path.parts) > 1 and (csv_path.parent / Path(*rel_path.parts[1:])).is_file():
        return csv_path.parent / Path(*rel_path.parts[1:])
    return csv_path.parent.parent / rel_path
