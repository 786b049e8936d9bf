"""Adapter for the RSNA Pneumonia Detection Challenge (Kaggle 2018, stage 2 release; Shih et al., Radiol AI 2019).

Layout: ``stage_2_train_labels.csv`` (``patientId,x,y,width,height,Target``: one row per opacity box, a single row
with empty box cells and ``Target`` 0 for an image without one), ``stage_2_detailed_class_info.csv``
(``patientId,class``: ``Lung Opacity`` | ``No Lung Opacity / Not Normal`` | ``Normal``), and DICOMs
``stage_2_train_images/<patientId>.dcm`` (one image per patientId; ``ViewPosition`` PA/AP in the header).

Each image is one study with ``Pneumonia`` = Target, boxes labelled ``Lung Opacity`` in pixels of the DICOM, and the
detailed class in ``meta``. The stage 2 test images have no public labels, so the split is a patient-hash split
(70/15/15 by default, as in MGCA). With ``mask_dir`` the box-union mask of every image is written there as
``<patientId>.png`` (empty for negatives) and attached as ``masks["lung_opacity"]``.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterator

from rich.progress import track

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.dicom import DicomError, read_header
from cxrvlp.data.masks import box_union_mask, write_mask
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, patient_split
from cxrvlp.data.study import Box, Study
from cxrvlp.data.tables import find_optional, is_blank, locate, read_rows

RELEASE = "RSNA Pneumonia Detection Challenge (stage 2)"
LABELS = ("Pneumonia",)
BOX_LABEL = "Lung Opacity"


def read_rsna_pneumonia(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                        skips: SkipLog | None = None, seed: int = 0,
                        fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, mask_dir: str | Path | None = None,
                        progress: bool = True) -> Iterator[Study]:
    """Yield one :class:`Study` per labelled RSNA image (see the module docstring)."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    labels_csv = locate(root, ("stage_2_train_labels.csv", "stage_1_train_labels.csv"), RELEASE)
    rows_of: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, row in read_rows(labels_csv, {"patientId", "x", "y", "width", "height", "Target"}, RELEASE, skips=skips):
        rows_of[row["patientId"]].append((line, row))
    detailed = _detailed_classes(root, skips)
    image_dir = labels_csv.parent / labels_csv.name.replace("_labels.csv", "_images")

    for pid, rows in track(rows_of.items(), description="RSNA: reading DICOM headers", disable=not progress):
        where = f"{labels_csv.name}:{rows[0][0]}"
        split = patient_split(pid, seed, fractions)
        if split not in splits:
            continue
        parsed = _target_and_boxes(rows, labels_csv.name, skips)
        if parsed is None:
            continue
        target, boxes = parsed
        path = image_dir / f"{pid}.dcm"
        try:
            header = read_header(path)
        except FileNotFoundError:
            skips.add("missing image file", f"{path} ({where})")
            continue
        except DicomError as e:
            skips.add(e.reason, f"{path} ({where})")
            continue
        masks = {}
        if mask_dir is not None:
            mask_path = Path(mask_dir) / f"{pid}.png"
            if not mask_path.is_file():
                write_mask(box_union_mask(boxes, header.rows, header.columns), mask_path)
            masks["lung_opacity"] = mask_path
        ref = ImageRef(path, header.view_position, image_id=pid, where=where, boxes=boxes, masks=masks)
        study = assemble_study([ref], skips, patient_id=pid, study_id=pid, split=split, where=where,
                               labels={"Pneumonia": float(target)}, check_files=False,
                               meta={"class": detailed.get(pid, ""), "image_size": (header.rows, header.columns)})
        if study is not None:
            yield study


def _target_and_boxes(rows, csv_name: str, skips: SkipLog) -> tuple[int, list[Box]] | None:
    boxes: list[Box] = []
    targets = set()
    for line, row in rows:
        try:
            target = int(float(row["Target"]))
            if target not in (0, 1):
                raise ValueError(row["Target"])
            targets.add(target)
            if target == 1:
                x, y, w, h = (float(row[k]) for k in ("x", "y", "width", "height"))
                boxes.append(Box(BOX_LABEL, x, y, x + w, y + h))
            elif not all(is_blank(row[k]) for k in ("x", "y", "width", "height")):
                raise ValueError("a box on a Target 0 row")
        except ValueError as e:
            skips.add("malformed label row", f"{csv_name}:{line} ({e})")
            return None
    if len(targets) > 1:
        skips.add("image with both Target 0 and 1 rows", f"{csv_name}:{rows[0][0]}")
        return None
    return targets.pop(), boxes


def _detailed_classes(root: Path, skips: SkipLog) -> dict[str, str]:
    path = find_optional(root, ("stage_2_detailed_class_info.csv", "stage_1_detailed_class_info.csv"))
    if path is None:
        return {}
    return {row["patientId"]: row["class"] for _, row in read_rows(path, {"patientId", "class"}, RELEASE, skips=skips)}
