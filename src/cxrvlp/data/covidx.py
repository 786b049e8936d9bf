"""Adapter for COVIDx CXR (Wang et al., COVID-Net, Sci Rep 2020; Kaggle ``andyczhao/covidx-cxr2`` releases).

Layout: ``train.txt``, ``val.txt`` (CXR-3 and later) and ``test.txt``, space separated
``patient_id filename class source`` (CXR-2/3: class ``positive`` | ``negative``); the older three-class lists
(``train_split.txt``, ``test_split.txt``, ...) use ``normal`` | ``pneumonia`` | ``COVID-19`` and may omit the
source. Images sit in ``train/``, ``val/`` and ``test/`` (found by file name anywhere below the root otherwise).
A few file names contain spaces, so a line is read as: first token = patient, the last token that is a known
class = class, the tokens between = file name, the rest = source.

Labels: ``COVID-19`` (both schemes), ``Pneumonia`` and ``Normal`` (three-class files only). No view is recorded;
images are frontal (``FRONTAL``). Splits are the official lists (patient-disjoint by construction); without a
``val`` list, ``holdout_fraction`` of the training patients (patient hash) → validate.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from cxrvlp.data.assemble import ImageRef, assemble_study
from cxrvlp.data.image_files import FileIndex
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import holdout_split
from cxrvlp.data.study import Study

RELEASE = "COVIDx CXR"
LABELS = ("COVID-19", "Pneumonia", "Normal")
CLASS_LABELS = {
    "positive": {"COVID-19": 1.0}, "negative": {"COVID-19": 0.0},
    "covid-19": {"COVID-19": 1.0, "Pneumonia": 0.0, "Normal": 0.0},
    "pneumonia": {"COVID-19": 0.0, "Pneumonia": 1.0, "Normal": 0.0},
    "normal": {"COVID-19": 0.0, "Pneumonia": 0.0, "Normal": 1.0},
}
LIST_NAMES = {"train": ("train.txt", "train_split.txt", "train_split_v3.txt", "train_split_v2.txt"),
              "validate": ("val.txt", "valid.txt"),
              "test": ("test.txt", "test_split.txt", "test_split_v3.txt", "test_split_v2.txt")}
IMAGE_FOLDERS = {"train": "train", "validate": "val", "test": "test"}


def read_covidx(root: str | Path, splits: tuple[str, ...] = ("train", "validate", "test"),
                skips: SkipLog | None = None, lists: dict[str, str] | None = None, holdout_fraction: float = 0.0,
                seed: int = 0) -> Iterator[Study]:
    """Yield one :class:`Study` per listed image (see the module docstring). ``lists`` overrides the list file
    names, e.g. ``{"train": "train_COVIDx9A.txt", "test": "test_COVIDx9A.txt"}``."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    files = _list_files(root, lists)
    if "train" not in files and "test" not in files:
        raise FileNotFoundError(f"{root}: no COVIDx list (train.txt / test.txt / train_split.txt ...); expected the "
                                f"{RELEASE} layout")
    index = FileIndex(root)
    seen: set[str] = set()
    for official, path in files.items():
        for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{line_no}"
            parsed = _parse_line(line)
            if parsed is None:
                skips.add("line without a known class", f"{where} ({line.strip()[:80]!r})")
                continue
            patient, filename, cls, source = parsed
            split = official
            if official == "train" and "validate" not in files and holdout_fraction > 0:
                split = holdout_split(patient, holdout_fraction, seed)
            if split not in splits:
                continue
            if filename in seen:
                skips.add("image listed twice", where)
                continue
            seen.add(filename)
            image = root / IMAGE_FOLDERS[official] / filename
            if not image.is_file():
                image = index.get(filename) or image
            study = assemble_study([ImageRef(image, "FRONTAL", image_id=filename, where=where)], skips,
                                   patient_id=patient, study_id=Path(filename).stem, split=split, where=where,
                                   labels=CLASS_LABELS[cls.lower()], meta={"class": cls, "source": source})
            if study is not None:
                yield study


def _parse_line(line: str) -> tuple[str, str, str, str] | None:
    tokens = line.split()
    for i in range(len(tokens) - 1, 1, -1):
        if tokens[i].lower() in CLASS_LABELS:
            return tokens[0], " ".join(tokens[1:i]), tokens[i], " ".join(tokens[i + 1 :])
    return None


def _list_files(root: Path, lists: dict[str, str] | None) -> dict[str, Path]:
    if lists:
        unknown = set(lists) - set(LIST_NAMES)
        if unknown:
            raise ValueError(f"COVIDx lists: unknown split name(s) {sorted(unknown)}; use {sorted(LIST_NAMES)}")
        missing = [name for name in lists.values() if not (root / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{root}: COVIDx list file(s) {missing} not found")
        return {split: root / name for split, name in lists.items()}
    found = {}
    for split, names in LIST_NAMES.items():
        path = next((root / n for n in names if (root / n).is_file()), None)
        if path is not None:
            found[split] = path
    return found
