"""Adapters for the three COVID-era folders of ../shared/data (each folder's README gives its schema and sources).

- ``covid_cxr_notes``: 708 ieee8023 + Figure 1 images with clinical notes (``images.csv``, one row per image), lung
  boxes (``annotations/lung_bboxes.json``), lungVAE lung masks (``annotations/lungVAE_masks.csv``) and severity
  scores (``annotations/covid_severity_scores.csv``). Grouped into studies exactly like the ieee8023 release
  (:mod:`cxrvlp.data.covid_chestxray`): one patient on one day, frontal + lateral, notes as text.
- ``covid_cxr_segmentations``: 100 ieee8023 images with radiologist-drawn masks for 13 classes (``images.csv``, one
  mask-path column per class); one study per image, no text.
- ``covid_cxr_v7_lungs``: V7 Labs lung masks (union, left/right label map, "ignore") for images that live in
  ``../covid_cxr_notes``; one study per image, joined to that folder's ``images.csv`` for patient and view.

All three key patients as ``ieee8023-<patientid>`` (Figure 1: ``figure1-<id>``), so with the same seed their patient-
hash splits agree and no patient is in train in one folder and in test in another.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.covid_chestxray import CovidImage, finding_labels, studies_from_images
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, patient_split
from cxrvlp.data.study import Box, Study
from cxrvlp.data.tables import is_blank, locate, read_rows, text_cell

NOTES = "covid_cxr_notes (../shared/data)"
SEGMENTATIONS = "covid_cxr_segmentations (../shared/data)"
V7 = "covid_cxr_v7_lungs (../shared/data)"
SEGMENTATION_CLASSES = ("airways", "cardiomediastinum", "central_venous_line", "consolidation", "endotracheal_tube",
                        "ground_glass_opacities", "left_lung", "monitoring_probes", "nasogastric_tube",
                        "pleural_effusion", "pneumothorax", "right_lung", "tubings")
LUNG_LR_VALUES = {"right_lung": 1, "left_lung": 2}  # masks_lr: 1 = viewer's left = the patient's right lung
_NOTES_COLUMNS = {"image_id", "path", "study_id", "patientid", "view_raw", "view_code", "finding", "clinical_notes"}


def read_covid_cxr_notes(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                         skips: SkipLog | None = None, require_report: bool = True, seed: int = 0,
                         fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
    """Image + notes studies of covid_cxr_notes with lung boxes, lungVAE masks (``masks["lung_lungvae"]``) and
    severity scores (``meta["severity"]``); ``require_report=False`` also yields studies without notes."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    csv_path = locate(root, "images.csv", NOTES)
    boxes = _lung_boxes(root, skips)
    masks = _lungvae_masks(root, skips)
    severity = _severity(root, skips)

    def images() -> Iterator[CovidImage]:
        for line, row in read_rows(csv_path, _NOTES_COLUMNS, NOTES, skips=skips):
            rel = row["path"]
            ref = ImageRef(root / rel, row["view_raw"], image_id=row["image_id"], where=f"{csv_path.name}:{line}",
                           boxes=boxes.get(rel, []), masks={"lung_lungvae": masks[rel]} if rel in masks else {})
            yield CovidImage(row["patientid"], row["study_id"], ref, text_cell(row, "finding"),
                             text_cell(row, "clinical_notes"))

    def severity_of(group: list[CovidImage]) -> dict:
        scores = {g.ref.image_id: severity[str(g.ref.path.relative_to(root))] for g in group
                  if str(g.ref.path.relative_to(root)) in severity}
        return {"severity": scores} if scores else {}

    return studies_from_images(images(), skips, splits=splits, seed=seed, fractions=fractions,
                               require_report=require_report, meta_of=severity_of)


def read_covid_cxr_segmentations(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                                 skips: SkipLog | None = None, seed: int = 0,
                                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
    """One study per image with ``masks[class]`` for each of the 13 ``SEGMENTATION_CLASSES`` drawn on it."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    csv_path = locate(root, "images.csv", SEGMENTATIONS)
    required = {"image_id", "image_path", "patientid", "offset", "view", "finding", *SEGMENTATION_CLASSES}
    for line, row in read_rows(csv_path, required, SEGMENTATIONS, skips=skips):
        where = f"{csv_path.name}:{line}"
        patient = f"ieee8023-{row['patientid']}"
        split = patient_split(patient, seed, fractions)
        if split not in splits:
            continue
        masks = {cls: root / row[cls] for cls in SEGMENTATION_CLASSES if not is_blank(row[cls])}
        ref = ImageRef(root / row["image_path"], row["view"], image_id=row["image_id"], where=where, masks=masks)
        study = assemble_study([ref], skips, patient_id=patient, study_id=row["image_id"], split=split, where=where,
                               labels=finding_labels(row["finding"]),
                               meta={"finding": row["finding"], "offset": row["offset"],
                                     "covid_cxr_notes_path": row.get("covid_cxr_notes_path", "")})
        if study is not None:
            yield study


def read_covid_cxr_v7_lungs(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                            skips: SkipLog | None = None, notes_root: str | Path | None = None, seed: int = 0,
                            fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> Iterator[Study]:
    """One study per masked image: ``masks["lung"]`` (binary), ``masks["lung_lr"]`` (label map, values in
    ``meta["mask_values"]``), ``masks["ignore"]`` where V7 marked devices; patients and views from covid_cxr_notes."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    csv_path = locate(root, "v7_lungs.csv", V7)
    notes_root = Path(notes_root) if notes_root else root.parent / "covid_cxr_notes"
    notes_csv = locate(notes_root, "images.csv", NOTES)
    notes = {(notes_root / row["path"]).resolve(): row for _, row in read_rows(notes_csv, _NOTES_COLUMNS, NOTES)}
    required = {"image_id", "image_path", "view_raw", "lung_mask_path", "lung_lr_path", "ignore_mask_path"}
    for line, row in read_rows(csv_path, required, V7, skips=skips):
        where = f"{csv_path.name}:{line}"
        image = (root / row["image_path"]).resolve()
        note = notes.get(image)
        if note is None:
            skips.add("image not in covid_cxr_notes/images.csv", f"{where} ({row['image_path']})")
            continue
        if is_blank(row["lung_mask_path"]):
            skips.add("image without lung polygons (V7 leaves laterals unsegmented)", where)
            continue
        split = patient_split(note["patientid"], seed, fractions)
        if split not in splits:
            continue
        masks = {name: root / row[column] for name, column in
                 (("lung", "lung_mask_path"), ("lung_lr", "lung_lr_path"), ("ignore", "ignore_mask_path"))
                 if not is_blank(row[column])}
        ref = ImageRef(image, row["view_raw"], image_id=row["image_id"], where=where, masks=masks)
        study = assemble_study([ref], skips, patient_id=note["patientid"], study_id=row["image_id"], split=split,
                               where=where, meta={"notes_study_id": note["study_id"],
                                                  "mask_values": {"lung_lr": LUNG_LR_VALUES}})
        if study is not None:
            yield study


def _lung_boxes(root: Path, skips: SkipLog) -> dict[str, list[Box]]:
    """Lung boxes by image path; boxes the README flags as drawn on a differently sized image are counted, not used."""
    path = root / "annotations" / "lung_bboxes.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}, line {e.lineno}: not valid JSON ({e.msg})") from e
    boxes: dict[str, list[Box]] = defaultdict(list)
    for i, ann in enumerate(data.get("annotations", [])):
        if ann.get("annotated_size_differs_from_repo_image"):
            skips.add("lung box drawn on a differently sized image (flagged upstream)",
                      f"{path.name}:annotations[{i}] ({ann.get('image_path')})")
            continue
        x, y, w, h = ann["bbox_xywh"]
        boxes[ann["image_path"]].append(Box(ann["category"], x, y, x + w, y + h))
    return boxes


def _lungvae_masks(root: Path, skips: SkipLog) -> dict[str, Path]:
    path = root / "annotations" / "lungVAE_masks.csv"
    if not path.is_file():
        return {}
    return {row["image_path"]: root / row["mask_path"]
            for _, row in read_rows(path, {"image_path", "mask_path"}, NOTES, skips=skips)}


def _severity(root: Path, skips: SkipLog) -> dict[str, dict[str, float]]:
    """``geographic_mean`` (extent, 0–8) and ``opacity_mean`` (0–6) per image path; the file has ``#`` comments."""
    path = root / "annotations" / "covid_severity_scores.csv"
    if not path.is_file():
        return {}
    scores = {}
    for line, row in read_rows(path, {"image_path", "geographic_mean", "opacity_mean"}, NOTES, skips=skips):
        try:
            scores[row["image_path"]] = {"geographic_extent": float(row["geographic_mean"]),
                                         "opacity": float(row["opacity_mean"])}
        except ValueError:
            skips.add("unreadable severity score", f"{path.name}:{line}")
    return scores
