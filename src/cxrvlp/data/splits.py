"""Official split names and deterministic patient-level splits for releases that publish none.

A patient's split depends only on a hash of ``(seed, patient id)``, so every image and study of a patient lands in
the same split, the assignment never changes when rows are added or reordered, and two adapters that use the same
patient key (e.g. ``ieee8023-39`` in covid_cxr_notes and covid_cxr_segmentations) agree with each other.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

from cxrvlp.data.study import Study

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)  # train / validate / test, as MGCA splits RSNA and SIIM
_ALIASES = {"train": "train", "training": "train", "tr": "train",
            "val": "validate", "valid": "validate", "validate": "validate", "validation": "validate", "dev": "validate",
            "test": "test", "testing": "test"}


def official_split(name: str | None) -> str | None:
    """Map a release's split name (``val``, ``valid``, ``Test``...) to one of ``train|validate|test``; else None."""
    return _ALIASES.get((name or "").strip().lower())


def unit_hash(patient_id: str, seed: int = 0) -> float:
    """``u = int(sha256(f"{seed}:{patient_id}")[:16], 16) / 2**64`` ∈ [0, 1), uniform over patients."""
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).hexdigest()
    return int(digest[:16], 16) / 2.0**64


def patient_split(patient_id: str, seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """``train`` if u < f_train, ``validate`` if u < f_train + f_validate, else ``test`` (u = :func:`unit_hash`)."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    u = unit_hash(patient_id, seed)
    if u < fractions[0]:
        return "train"
    return "validate" if u < fractions[0] + fractions[1] else "test"


def holdout_split(patient_id: str, fraction: float, seed: int = 0) -> str:
    """Carve a validation set out of an official training list: ``validate`` for a ``fraction`` of patients."""
    return patient_split(patient_id, seed, (1.0 - fraction, fraction, 0.0))


def crossing_patients(studies: Iterable[Study]) -> dict[str, set[str]]:
    """Patients that appear in more than one split, with their splits (empty when the splits are patient-disjoint)."""
    seen: dict[str, set[str]] = {}
    for s in studies:
        seen.setdefault(s.patient_id, set()).add(s.split)
    return {p: splits for p, splits in seen.items() if len(splits) > 1}

