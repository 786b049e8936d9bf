"""Adapter for a phantom data set: the MIMIC-CXR-JPG reader plus the generator's ground truth.

The ground truth (``phantom_ground_truth.jsonl``) replaces nothing: report-derived CheXpert labels stay under their
CheXpert names, and the true findings are added under the phantom's finding names (``cardiomegaly``, ...). Each
image also gets the boxes and masks of the findings visible in it (``ImageRecord.boxes`` / ``masks[finding]``); a
finding absent or invisible in a view has none there, so a missing mask means an empty one. Phantoms of generator
version 1.2 and later also give each image the masks of the anatomy it models, under ``masks["anatomy:<name>"]``
(``anatomy:left lung``, ``anatomy:right lower zone``, ``anatomy:heart``, ...: :data:`ANATOMY_PREFIX` keeps them apart
from finding names; :data:`cxrvlp.phantom.anatomy_masks.STRUCTURES`); their boxes stay in the ground truth only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from cxrvlp.data.mimic_cxr import SkipLog, read_mimic_cxr
from cxrvlp.data.study import Box, Study

GROUND_TRUTH = "phantom_ground_truth.jsonl"
ANATOMY_PREFIX = "anatomy:"


def read_ground_truth(root: str | Path) -> dict[str, dict]:
    path = Path(root) / GROUND_TRUTH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; is {root} a phantom data set? (cxrvlp phantom --out {root})")
    truth = {}
    with path.open() as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                truth[str(row["study_id"])] = row
            except (json.JSONDecodeError, KeyError) as e:
                raise ValueError(f"{path}, line {line_no}: expected a JSON object with study_id ({e})") from e
    return truth


def read_phantom(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                 skips: SkipLog | None = None) -> Iterator[Study]:
    truth = read_ground_truth(root)
    for study in read_mimic_cxr(root, splits=splits, skips=skips):
        gt = truth.get(study.study_id)
        if gt is None:
            raise ValueError(f"{Path(root) / GROUND_TRUTH}: no ground truth for study {study.study_id}")
        study.labels.update({k: float(v) for k, v in gt["labels"].items()})
        study.meta["ground_truth"] = gt
        _attach_annotations(study, gt, Path(root))
        yield study


def _attach_annotations(study: Study, gt: dict, root: Path) -> None:
    images = {img.image_id: img for img in study.frontal + study.lateral}
    for finding in gt["findings"]:
        for dicom_id, view in finding["views"].items():
            img = images.get(dicom_id)
            if img is None or not view["visible"]:
                continue
            img.boxes.append(Box(finding["name"], *view["box"]))
            img.masks[finding["name"]] = root / view["mask"]
    for dicom_id, structures in gt.get("anatomy", {}).items():  # absent before generator version 1.2
        img = images.get(dicom_id)
        if img is None:
            continue
        for name, entry in structures.items():
            img.masks[ANATOMY_PREFIX + name] = root / entry["mask"]
