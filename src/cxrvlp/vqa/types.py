"""A VQA item: one image, one question, one answer (closed set)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Question:
    image: Path  # the image file the question is about
    question: str
    answer: str  # normalised: lower case, stripped
    kind: str  # question type, for per-type accuracy (presence, side, location, size, device; or the set's own)
    split: str  # train / test (the held-out split of the set)
    study_id: str = ""


def normalise_answer(answer: str) -> str:
    return " ".join(str(answer).lower().strip().rstrip(".").split())
