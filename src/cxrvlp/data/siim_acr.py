"""Adapter for the SIIM-ACR Pneumothorax Segmentation challenge (Kaggle 2019; Zawacki et al., J Digit Imaging 2019).

Layout: ``train-rle.csv`` (stage 1) whose header is ``ImageId, EncodedPixels`` (the official header has a space
before ``EncodedPixels``, and so do the cells), one row per pneumothorax instance, ``-1`` for an image without one;
DICOMs ``dicom-images-train/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``, found recursively by
their file name (= ``ImageId``). The stage 1 RLE is the relative, column-major form of the challenge's
``mask_functions.py``; ``stage_2_train.csv`` (stage 2) uses absolute starts (see :mod:`cxrvlp.data.rle`).

Each image is one study: ``Pneumothorax`` = 1 if any instance, the instances' RLE strings in ``meta["rle"]`` (use
:func:`pneumothorax_mask`), and with ``mask_dir`` the union mask written as ``<ImageId>.png`` and attached as
``masks["pneumothorax"]``. No labelled test set is public, so the split is a patient-hash split on the DICOM
``PatientID`` (70/15/15 by default, as in MGCA).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np
from rich.progress import track

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.dicom import DicomError, read_header
from cxrvlp.data.image_files import DICOM_SUFFIXES, FileIndex
from cxrvlp.data.masks import write_mask
from cxrvlp.data.rle import EMPTY, rle_decode
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import DEFAULT_FRACTIONS, patient_split
from cxrvlp.data.study import Study
from cxrvlp.data.tables import locate, read_rows

RELEASE = "SIIM-ACR Pneumothorax Segmentation"
LABELS = ("Pneumothorax",)


def pneumothorax_mask(study: Study) -> np.ndarray:
    """``bool [H, W]``: the union of the study's pneumothorax instances."""
    height, width = study.meta["image_size"]
    mask = np.zeros((height, width), dtype=bool)
    for rle in study.meta["rle"]:
        mask |= rle_decode(rle, height, width, relative=study.meta["rle_relative"])
    return mask


def read_siim_acr(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                  skips: SkipLog | None = None, seed: int = 0,
                  fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, mask_dir: str | Path | None = None,
                  progress: bool = True) -> Iterator[Study]:
    """Yield one :class:`Study` per image of ``train-rle.csv`` with a readable DICOM (see the module docstring)."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    rle_csv = locate(root, ("train-rle.csv", "stage_2_train.csv"), RELEASE)
    relative = rle_csv.name == "train-rle.csv"
    rows_of: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line, row in read_rows(rle_csv, {"ImageId", "EncodedPixels"}, RELEASE, skips=skips):
        rows_of[row["ImageId"]].append((line, row["EncodedPixels"]))
    dicoms = FileIndex(root, suffixes=DICOM_SUFFIXES, key=lambda p: p.stem, progress=progress)

    for image_id, rows in track(rows_of.items(), description="SIIM-ACR: reading DICOM headers", disable=not progress):
        where = f"{rle_csv.name}:{rows[0][0]}"
        path = dicoms.get(image_id)
        if path is None:
            skips.add("missing image file", f"{image_id}.dcm under {root} ({where})")
            continue
        try:
            header = read_header(path)
        except DicomError as e:
            skips.add(e.reason, f"{path} ({where})")
            continue
        patient = header.patient_id or image_id
        split = patient_split(patient, seed, fractions)
        if split not in splits:
            continue
        instances = _instances(rows, rle_csv.name, header.rows, header.columns, relative, skips)
        if instances is None:
            continue
        meta = {"rle": instances, "rle_relative": relative, "image_size": (header.rows, header.columns)}
        masks = {}
        if mask_dir is not None:
            mask_path = Path(mask_dir) / f"{image_id}.png"
            if not mask_path.is_file():
                union = np.zeros((header.rows, header.columns), dtype=bool)
                for rle in instances:
                    union |= rle_decode(rle, header.rows, header.columns, relative)
                write_mask(union, mask_path)
            masks["pneumothorax"] = mask_path
        ref = ImageRef(path, header.view_position, image_id=image_id, where=where, masks=masks)
        study = assemble_study([ref], skips, patient_id=patient, study_id=image_id, split=split, where=where,
                               labels={"Pneumothorax": float(bool(instances))}, meta=meta, check_files=False)
        if study is not None:
            yield study


def _instances(rows, csv_name: str, height: int, width: int, relative: bool, skips: SkipLog) -> list[str] | None:
    """The image's non-empty RLE strings, each checked to decode inside the image; ``None`` if any is malformed."""
    instances = [rle for _, rle in rows if rle.strip() != EMPTY]
    if instances and len(instances) != len(rows):
        skips.add("image with both -1 and mask rows", f"{csv_name}:{rows[0][0]}")
        return None
    for (line, rle) in rows:
        if rle.strip() == EMPTY:
            continue
        try:
            rle_decode(rle, height, width, relative)
        except ValueError as e:
            skips.add("malformed RLE", f"{csv_name}:{line} ({e})")
            return None
    return instances
