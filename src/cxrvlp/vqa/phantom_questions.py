"""Questions from the phantom's ground truth (``study.meta["ground_truth"]``), deterministic per study.

For each study (its first frontal image):
- presence: "Is there <finding>?" → yes / no, for every finding it has and as many it has not (chosen with a
  generator seeded by the study id, so the questions never change);
- side: "Which side is the <finding> on?" → left / right / bilateral (pleural effusion, pneumothorax,
  consolidation, atelectasis, nodule, mass);
- location: "Which zone is the <nodule / mass> in?" → upper / mid / lower; "Which lobe is the consolidation in?"
  → upper / lower;
- size: "How large is the <finding>?" → the phantom's size word (small / moderate / large / ...);
- device: "Is there <a device>?" → yes for every device kind the study has, no for as many it has not (at least
  one), so that "no" does not win by the count of questions.

The split is the phantom's: train questions train the answer head, test questions are held out.
"""
from __future__ import annotations

import zlib

import numpy as np

from cxrvlp.data.study import Study
from cxrvlp.vqa.types import Question

NAMES = {"cardiomegaly": "cardiomegaly", "pleural_effusion": "a pleural effusion", "pneumothorax": "a pneumothorax",
         "consolidation": "consolidation", "nodule": "a nodule", "mass": "a mass", "atelectasis": "atelectasis",
         "edema": "pulmonary edema", "retrocardiac_opacity": "a retrocardiac opacity",
         "support_devices": "a support device"}
NOUNS = {k: v.removeprefix("a ").removeprefix("pulmonary ") for k, v in NAMES.items()}
SIDED = ("pleural_effusion", "pneumothorax", "consolidation", "atelectasis", "nodule", "mass")
SIZED = ("pleural_effusion", "pneumothorax", "cardiomegaly", "nodule", "mass", "atelectasis", "edema")
DEVICES = {"cvc": "a central venous catheter", "pacemaker": "a pacemaker", "ett": "an endotracheal tube",
           "ng_tube": "a nasogastric tube", "sternotomy": "sternotomy wires"}
SPLITS = {"train": "train", "validate": "train", "test": "test"}


def _questions(study: Study) -> list[tuple[str, str, str]]:
    gt = study.meta["ground_truth"]
    present = {f["name"]: f for f in gt["findings"]}
    rng = np.random.default_rng(zlib.crc32(str(study.study_id).encode()))
    out = []
    absent = [n for n in NAMES if n not in present]
    for name in list(present) + list(rng.permutation(absent)[: len(present) or 1]):
        out.append(("presence", f"Is there {NAMES[name]}?", "yes" if name in present else "no"))
    for name, f in present.items():
        noun = NOUNS[name]
        if name in SIDED and f.get("side") in ("left", "right", "bilateral"):
            out.append(("side", f"Which side is the {noun} on?", f["side"]))
        if name in ("nodule", "mass") and f.get("zone"):
            out.append(("location", f"Which zone is the {noun} in?", f["zone"]))
        if name == "consolidation" and f.get("lobe"):
            out.append(("location", "Which lobe is the consolidation in?", f["lobe"]))
        if name in SIZED and f.get("size_word"):
            out.append(("size", f"How large is the {noun}?", f["size_word"]))
    kinds = [k for k in DEVICES if k in {d["kind"] for d in present.get("support_devices", {}).get("devices", [])}]
    others = [k for k in DEVICES if k not in kinds]
    for kind in kinds + list(rng.permutation(others)[: len(kinds) or 1]):
        out.append(("device", f"Is there {DEVICES[kind]}?", "yes" if kind in kinds else "no"))
    return out


def phantom_questions(studies: list[Study]) -> list[Question]:
    """Every question of every study with a frontal image and ground truth."""
    items = []
    for s in studies:
        if not s.frontal or "ground_truth" not in s.meta:
            continue
        for kind, question, answer in _questions(s):
            items.append(Question(s.frontal[0].path, question, answer, kind, SPLITS.get(s.split, s.split),
                                  s.study_id))
    return items
