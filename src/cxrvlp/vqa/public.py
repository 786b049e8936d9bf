"""Readers for the public medical VQA sets in their official layouts (the data is not here; users bring it).

- **VQA-RAD** (Lau et al., 2018): one JSON list (``VQA_RAD Dataset Public.json``) of entries with ``image_name``,
  ``question``, ``answer``, ``answer_type`` (``CLOSED`` / ``OPEN``), ``question_type``, ``image_organ`` and
  ``phrase_type`` (``test_freeform`` / ``test_para`` mark the test questions); images in ``VQA_RAD Image Folder/``.
- **SLAKE** (Liu et al., 2021): ``train.json``, ``validate.json``, ``test.json``: lists of entries with
  ``img_name`` (``xmlab102/source.jpg``, under ``imgs/``), ``question``, ``answer``, ``q_lang`` (``en`` / ``zh``),
  ``modality`` (``X-Ray``, ``CT``, ``MRI``), ``location``, ``answer_type`` and ``content_type``.

Both keep closed questions (``closed_only``) about chest radiographs (VQA-RAD ``image_organ == CHEST``; SLAKE
``modality == X-Ray`` and ``location`` ``Chest`` / ``Lung``) by default; every entry left out is counted in the
``SkipLog`` with its reason, and a file or field that is missing is a one-line error naming the file and entry.
"""
from __future__ import annotations

import json
from pathlib import Path

from cxrvlp.data.skips import SkipLog
from cxrvlp.vqa.types import Question, normalise_answer

VQA_RAD_JSON = "VQA_RAD Dataset Public.json"
VQA_RAD_IMAGES = "VQA_RAD Image Folder"


def _load(path: Path) -> list:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (expected the data set's official JSON file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of questions, found {type(data).__name__}")
    return data


def _field(entry: dict, key: str, path: Path, i: int):
    if key not in entry:
        raise KeyError(f"{path}: entry {i} has no field {key!r} (fields: {sorted(entry)})")
    return entry[key]


def read_vqa_rad(root: str | Path, skips: SkipLog | None = None, closed_only: bool = True,
                 chest_only: bool = True) -> list[Question]:
    root, skips = Path(root), skips if skips is not None else SkipLog()
    path = root / VQA_RAD_JSON
    out = []
    for i, e in enumerate(_load(path)):
        where = f"{path}: entry {i}"
        if closed_only and str(_field(e, "answer_type", path, i)).upper() != "CLOSED":
            skips.add("open question", where)
            continue
        if chest_only and str(e.get("image_organ", "")).upper() != "CHEST":
            skips.add("not a chest image", where)
            continue
        image = root / VQA_RAD_IMAGES / str(_field(e, "image_name", path, i))
        if not image.is_file():
            skips.add("missing image file", f"{image} ({where})")
            continue
        split = "test" if str(e.get("phrase_type", "")).startswith("test") else "train"
        out.append(Question(image, str(_field(e, "question", path, i)), normalise_answer(_field(e, "answer", path, i)),
                            str(e.get("question_type", "")).lower() or "other", split, str(e.get("qid", i))))
    return out


def read_slake(root: str | Path, skips: SkipLog | None = None, closed_only: bool = True,
               chest_only: bool = True, language: str = "en") -> list[Question]:
    root, skips = Path(root), skips if skips is not None else SkipLog()
    out = []
    for split_file, split in (("train.json", "train"), ("validate.json", "train"), ("test.json", "test")):
        path = root / split_file
        if split_file == "validate.json" and not path.is_file():
            continue
        for i, e in enumerate(_load(path)):
            where = f"{path}: entry {i}"
            if e.get("q_lang", "en") != language:
                skips.add("other language", where)
                continue
            if closed_only and str(_field(e, "answer_type", path, i)).upper() != "CLOSED":
                skips.add("open question", where)
                continue
            if chest_only and (e.get("modality") != "X-Ray" or e.get("location") not in ("Chest", "Lung")):
                skips.add("not a chest radiograph", where)
                continue
            image = root / "imgs" / str(_field(e, "img_name", path, i))
            if not image.is_file():
                skips.add("missing image file", f"{image} ({where})")
                continue
            out.append(Question(image, str(_field(e, "question", path, i)),
                                normalise_answer(_field(e, "answer", path, i)),
                                str(e.get("content_type", "")).lower() or "other", split, str(e.get("qid", i))))
    return out
