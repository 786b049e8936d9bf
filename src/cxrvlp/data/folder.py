"""Your own images, no release layout: the ``folder`` and ``csv`` adapters.

``folder``: every image below ``root`` (``.png`` 8/16-bit, ``.jpg``/``.jpeg``, ``.dcm``/``.dicom``, ``.tif``/``.tiff``)
is one study; its id is the path below ``root`` without the suffix (``sub/img001``). Optional, beside it:

- ``<same stem>.txt``: the report (section headings such as ``FINDINGS:`` / ``IMPRESSION:`` are recognised; plain
  text is used whole);
- ``root/labels.csv``: one row per image, the column ``image`` naming it (its id, its path below ``root`` or its file
  name); optional columns ``split`` (train / validate / test, or val, valid...), ``view`` (PA, AP, LATERAL...;
  default FRONTAL) and ``patient_id``; every other column is a label (1 / 0 / -1, blank = not mentioned).

``csv``: ``root/images.csv`` (or ``root`` is the CSV file itself), one row per image: ``path`` (relative to the CSV's
folder, or absolute) and optional ``study_id`` (rows that share it are one study: frontal and lateral views),
``patient_id``, ``view``, ``split``, ``report`` (the text) or ``report_path`` (a text file); every other column is a
label.

Without a ``split`` column a study's split is the patient hash (0.7 / 0.15 / 0.15, patient = ``patient_id`` or the
study id). Whatever cannot be used (a missing or truncated image, a label row naming no image, an unreadable label
cell, an unknown view) is counted in the skip log through :mod:`cxrvlp.data.assemble`.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import official_split, patient_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import is_blank, read_labels, read_rows, text_cell
from cxrvlp.text.sections import split_sections

FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".tif", ".tiff")
LABELS_CSV = "labels.csv"
IMAGES_CSV = "images.csv"
FOLDER_COLUMNS = ("image", "split", "view", "patient_id")
CSV_COLUMNS = ("path", "image_id", "study_id", "patient_id", "view", "split", "report", "report_path")
ALL_SPLITS = ("train", "validate", "test")


def folder_images(root: str | Path, skips: SkipLog | None = None) -> dict[str, Path]:
    """``{image id: path}`` for every image file below ``root`` (sorted; hidden folders and files left out). Two files
    with one id (``a.png`` and ``a.dcm``): the first in sorted order is kept, the other counted in ``skips``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file() and not any(s.startswith(".") for s in rel.parts):
            image_id = rel.with_suffix("").as_posix()
            if image_id in out:
                if skips is not None:
                    skips.add("second image file with the same name", f"{p} (kept {out[image_id].name})")
                continue
            out[image_id] = p
    return out


def folder_label_names(root: str | Path) -> tuple[str, ...]:
    return _label_columns(Path(root) / LABELS_CSV, FOLDER_COLUMNS)


def csv_label_names(root: str | Path) -> tuple[str, ...]:
    return _label_columns(_images_csv(root), CSV_COLUMNS)


def _label_columns(path: Path, reserved: tuple[str, ...]) -> tuple[str, ...]:
    """The header's columns that are not reserved: the label names, in table order."""
    if not path.is_file():
        return ()
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                header = next(csv.reader([line]))
                break
        else:
            return ()
    return tuple(h.strip() for h in header if h.strip() and h.strip() not in reserved)


def read_folder(root: str | Path, splits: tuple[str, ...] = ALL_SPLITS, skips: SkipLog | None = None,
                seed: int = 0) -> Iterator[Study]:
    """One study per image below ``root`` (module docstring)."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    images = folder_images(root, skips)
    by_name: dict[str, list[str]] = {}
    for image_id, path in images.items():
        by_name.setdefault(path.name, []).append(image_id)
    rows: dict[str, tuple[str, dict[str, str]]] = {}
    labels_csv = root / LABELS_CSV
    names = folder_label_names(root)
    if labels_csv.is_file():
        for line, row in read_rows(labels_csv, ("image",), f"{LABELS_CSV} of a folder data set", skips=skips):
            where = f"{LABELS_CSV}:{line}"
            key = row["image"].replace("\\", "/").strip()
            image_id = key if key in images else str(Path(key).with_suffix("").as_posix())
            if image_id not in images and len(by_name.get(key, ())) == 1:
                image_id = by_name[key][0]
            if image_id not in images:
                skips.add("label row names no image file", f"{where} ({row['image']!r})")
                continue
            if image_id in rows:
                skips.add("second label row for an image", f"{where} ({row['image']!r})")
                continue
            rows[image_id] = (where, row)
    for image_id, path in images.items():
        where, row = rows.get(image_id, (str(path), {}))
        patient = row.get("patient_id") or image_id
        split = _split(row, patient, seed, where, skips)
        if split is None or split not in splits:
            continue
        report = path.with_suffix(".txt")
        sections = split_sections(report.read_text(encoding="utf-8", errors="replace")) if report.is_file() else {}
        view = row.get("view") or "FRONTAL"
        study = assemble_study([ImageRef(path, view, image_id=image_id, where=where)], skips, patient_id=patient,
                               study_id=image_id, split=split, where=where, sections=sections,
                               labels=read_labels(row, names, where, skips) if row else {})
        if study is not None:
            yield study


def read_csv(root: str | Path, splits: tuple[str, ...] = ALL_SPLITS, skips: SkipLog | None = None,
             seed: int = 0) -> Iterator[Study]:
    """The studies of an ``images.csv`` (module docstring); rows sharing a ``study_id`` are one study."""
    skips = skips if skips is not None else SkipLog()
    table = _images_csv(root)
    base = table.parent
    names = csv_label_names(root)
    studies: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for line, row in read_rows(table, ("path",), f"{IMAGES_CSV} of a csv data set", skips=skips):
        where = f"{table.name}:{line}"
        if is_blank(row.get("path")):
            skips.add("row without an image path", where)
            continue
        study_id = row.get("study_id") or Path(row["path"]).with_suffix("").as_posix()
        studies.setdefault(study_id, []).append((where, row))
    for study_id, rows in studies.items():
        where, first = rows[0]
        patient = first.get("patient_id") or study_id
        split = _split(first, patient, seed, where, skips)
        if split is None or split not in splits:
            continue
        refs = [ImageRef(_path(base, row["path"]), row.get("view") or "FRONTAL",
                         image_id=row.get("image_id") or Path(row["path"]).with_suffix("").as_posix(), where=w)
                for w, row in rows]
        text = " ".join(text_cell(row, "report") for _, row in rows if text_cell(row, "report"))
        for w, row in rows:
            if not is_blank(row.get("report_path")):
                report = _path(base, row["report_path"])
                if report.is_file():
                    text = f"{text}\n{report.read_text(encoding='utf-8', errors='replace')}".strip()
                else:
                    skips.add("missing report file", f"{w} ({row['report_path']!r})")
        labels: dict[str, float] = {}
        for w, row in rows:  # the first non-blank cell of each label over the study's rows
            for name, value in read_labels(row, names, w, skips).items():
                labels.setdefault(name, value)
        study = assemble_study(refs, skips, patient_id=patient, study_id=study_id, split=split, where=where,
                               sections=split_sections(text) if text else {}, labels=labels)
        if study is not None:
            yield study


def _split(row: dict[str, str], patient: str, seed: int, where: str, skips: SkipLog) -> str | None:
    if is_blank(row.get("split")):
        return patient_split(patient, seed)
    split = official_split(row["split"])
    if split is None:
        skips.add("unknown split name", f"{where} ({row['split']!r})")
    return split


def _images_csv(root: str | Path) -> Path:
    root = Path(root)
    if root.suffix.lower() == ".csv":
        if not root.is_file():
            raise FileNotFoundError(f"{root}: no such CSV file")
        return root
    table = root / IMAGES_CSV
    if not table.is_file():
        raise FileNotFoundError(f"{root}: no {IMAGES_CSV} (the csv adapter reads a table with a 'path' column; "
                                "a plain folder of images is the 'folder' adapter)")
    return table


def _path(base: Path, cell: str) -> Path:
    p = Path(cell.strip()).expanduser()
    return p if p.is_absolute() else base / p
