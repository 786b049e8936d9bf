"""Held-out data for the downstream tasks: studies by split, and the labels, masks and boxes of the image each
study is judged on (its first frontal image, as ``StudyDataset`` picks it outside training).

Masks and boxes are mapped into the evaluated crop exactly as the image is: resize the long side to ``resize``,
pad to a square (:class:`~cxrvlp.data.prepared.format.Geometry`), then take the centred ``crop``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cxrvlp.data.adapters import get_adapter, load_studies
from cxrvlp.data.masks import read_mask
from cxrvlp.data.phantom import ANATOMY_PREFIX
from cxrvlp.data.prepared.format import Geometry, ShardRef, read_array
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import holdout_split
from cxrvlp.data.study import ImageRecord, Study
from cxrvlp.data.transforms import Preprocess, crop_normalise

SPLITS = ("train", "validate", "test")
VALIDATION_FROM_TRAIN = 0.15  # share of training patients held out when a data set has no validation split


@dataclass
class EvalData:
    """Studies of one data set by split; ``notes`` says how the splits were made when not by the adapter alone."""

    adapter: str
    root: str
    label_names: tuple[str, ...]
    splits: dict[str, list[Study]]
    skips: SkipLog
    notes: list[str]

    def describe(self) -> dict:
        return {"adapter": self.adapter, "data_root": self.root, "skipped": self.skips.summary(),
                "n_studies": {k: len(v) for k, v in self.splits.items()},
                "study_ids_sha256": {k: ids_hash(v) for k, v in self.splits.items()}, "notes": self.notes}


def ids_hash(studies: list[Study]) -> str:
    return hashlib.sha256("\n".join(sorted(s.study_id for s in studies)).encode()).hexdigest()[:16]


def load_eval_data(adapter: str, root: str | Path, limit: int = 0, seed: int = 0) -> EvalData:
    """All three splits of ``adapter`` at ``root``. Without a validation split, ``VALIDATION_FROM_TRAIN`` of the
    training patients (hashed with ``seed``) become one. ``limit`` > 0 keeps ``limit`` studies of each split, evenly
    spaced in study-id order (tiny runs and tests; releases often sort their files by class)."""
    studies, skips = load_studies(adapter, str(root), SPLITS)
    by_split = {s: sorted((st for st in studies if st.split == s), key=lambda st: st.study_id) for s in SPLITS}
    notes = []
    if not by_split["validate"] and by_split["train"]:
        train = by_split["train"]
        by_split["validate"] = [s for s in train if holdout_split(s.patient_id, VALIDATION_FROM_TRAIN, seed) ==
                                "validate"]
        by_split["train"] = [s for s in train if s not in by_split["validate"]]
        notes.append(f"no validation split: {VALIDATION_FROM_TRAIN:.0%} of the training patients held out "
                     f"(patient hash, seed {seed})")
    if limit:
        by_split = {k: [v[i] for i in evenly_spaced(len(v), limit)] for k, v in by_split.items()}
        notes.append(f"{limit} studies of each split, evenly spaced in study-id order")
    for name in ("train", "test"):
        if not by_split[name]:
            raise ValueError(f"{root}: adapter {adapter!r} yields no {name!r} studies ({skips.summary()})")
    return EvalData(adapter, str(root), tuple(get_adapter(adapter).labels_for(str(root))), by_split, skips, notes)


def evenly_spaced(n: int, k: int) -> list[int]:
    """``min(k, n)`` indices of ``range(n)``, evenly spaced, first and last included (``--limit``)."""
    return sorted(set(np.linspace(0, n - 1, num=min(k, n)).round().astype(int).tolist())) if n else []


def evaluated_image(study: Study) -> ImageRecord:
    if not study.frontal:
        raise ValueError(f"study {study.study_id} has no frontal image to evaluate")
    return study.frontal[0]


def label_matrix(studies: list[Study], names: tuple[str, ...]) -> np.ndarray:
    """``[N, L]`` float: 1 / 0 / -1 (uncertain) as given, NaN where a study does not mention the label."""
    return np.array([[s.labels.get(n, math.nan) for n in names] for s in studies], dtype=np.float64).reshape(
        len(studies), len(names))


# -- geometry of the evaluated crop ---------------------------------------------------------------------------
def _geometry(record: ImageRecord, size: int) -> Geometry:
    if isinstance(record.path, ShardRef):  # prepared shards are already square and padded
        s = read_array(record.path).shape[-1]
        return Geometry(s, s, size)
    with Image.open(record.path) as im:
        width, height = im.size
    return Geometry(height, width, size)


def _crop_offset(pre: Preprocess) -> int:
    return (pre.resize - pre.crop) // 2


def crop_boxes(record: ImageRecord, pre: Preprocess, classes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The image's boxes of ``classes`` in crop pixels: ``{"boxes": [M, 4] x0 y0 x1 y1, "labels": [M]}``; boxes
    clipped to the crop, those left with no area dropped (outside the evaluated field of view)."""
    geo, off = _geometry(record, pre.resize), _crop_offset(pre)
    boxes, labels = [], []
    for b in record.boxes:
        if b.label not in classes:
            continue
        m = geo.map_box(b)
        x0, y0 = min(max(m.x0 - off, 0.0), pre.crop), min(max(m.y0 - off, 0.0), pre.crop)
        x1, y1 = min(max(m.x1 - off, 0.0), pre.crop), min(max(m.y1 - off, 0.0), pre.crop)
        if x1 - x0 >= 1.0 and y1 - y0 >= 1.0:
            boxes.append([x0, y0, x1, y1])
            labels.append(classes.index(b.label))
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64)}


def _read_class_mask(record: ImageRecord, study: Study, cls: str) -> np.ndarray | None:
    """``cls`` as a binary mask file, or as one value of a label map named in ``study.meta["mask_values"]``."""
    if cls in record.masks:
        path = record.masks[cls]
        return read_array(path) > 0 if isinstance(path, ShardRef) else read_mask(path)
    for map_name, values in study.meta.get("mask_values", {}).items():
        if cls in values and map_name in record.masks:
            return read_mask(record.masks[map_name], values[cls])
    return None


def crop_mask(record: ImageRecord, study: Study, pre: Preprocess, cls: str) -> torch.Tensor | None:
    """``bool [crop, crop]``: the mask of ``cls`` on image ``record`` of ``study`` mapped into the evaluated crop
    (resize the long side, pad, centre crop), or ``None`` when the image has no mask of that class."""
    mask = _read_class_mask(record, study, cls)
    if mask is None:
        return None
    m = _geometry(record, pre.resize).resize_pad_mask(torch.from_numpy(mask.astype(np.float32))[None])
    return crop_normalise(m, replace(pre, mean=0.0, std=1.0), train=False)[0] > 0.5


def crop_masks(study: Study, pre: Preprocess, classes: tuple[str, ...], missing: str = "skip") -> torch.Tensor | None:
    """``bool [K, crop, crop]`` for ``classes``; a class with no mask on the image is empty when ``missing`` is
    ``"empty"`` (complete ground truth such as the phantom's), else the image is not usable (``None``)."""
    record = evaluated_image(study)
    out = []
    for cls in classes:
        mask = crop_mask(record, study, pre, cls)
        if mask is None:
            if missing != "empty":
                return None
            mask = torch.zeros(pre.crop, pre.crop, dtype=torch.bool)
        out.append(mask)
    return torch.stack(out)


def mask_classes(studies: list[Study]) -> tuple[str, ...]:
    """Every class a mask is available for in ``studies`` (binary mask files and label-map values), sorted; the
    phantom's anatomy masks (``anatomy:<name>``) are not findings and are left out (name them to segment them)."""
    names = set()
    for s in studies:
        record = evaluated_image(s)
        names.update(k for k in record.masks
                     if k not in s.meta.get("mask_values", {}) and not k.startswith(ANATOMY_PREFIX))
        for map_name, values in s.meta.get("mask_values", {}).items():
            if map_name in record.masks:
                names.update(values)
    return tuple(sorted(names))


def box_classes(studies: list[Study]) -> tuple[str, ...]:
    return tuple(sorted({b.label for s in studies for b in evaluated_image(s).boxes}))
