"""Who is in the data set: patients, their 1–3 studies, identifiers, dates, splits and findings over time.

Everything random is drawn from ``SeedSequence([seed, …])`` streams: the plan from ``(seed, PLAN)``, a
patient's body from ``(seed, patient)``, a study from ``(seed, patient, k)``. So a study's content depends on
the seed and its place in the cohort only, never on how the work is split across processes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from . import findings as fnd
from .anatomy import build, sample_patient, sample_pose
from .anatomy_masks import anatomy_footprints
from .reports import write_report
from .studies import StudySpec, render_with_footprints

PLAN = 0x5EED


@dataclass
class PlannedStudy:
    study_id: int
    date: int  # YYYYMMDD
    time: str  # HHMMSS.fff
    lateral: bool
    normal: bool


@dataclass
class PlannedPatient:
    index: int
    subject_id: int
    split: str
    studies: list


def plan(seed: int, n_studies: int, lateral_fraction: float, normal_fraction: float) -> list[PlannedPatient]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, PLAN]))
    sizes = []
    while sum(sizes) < n_studies:
        sizes.append(min(int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15])), n_studies - sum(sizes)))
    n_pat = len(sizes)
    subjects = 10_000_000 + rng.choice(9_000_000, size=n_pat, replace=False)
    studies = 50_000_000 + rng.choice(10_000_000, size=n_studies, replace=False)
    lateral = _exact_share(rng, n_studies, lateral_fraction)
    normal = _exact_share(rng, n_studies, normal_fraction)
    order = rng.permutation(n_pat)
    n_val, n_test = int(round(0.1 * n_pat)), int(round(0.1 * n_pat))
    if n_pat >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    split = np.empty(n_pat, dtype=object)
    split[order] = "train"
    split[order[:n_val]] = "validate"
    split[order[n_val:n_val + n_test]] = "test"
    out, k = [], 0
    for i, size in enumerate(sizes):
        day = int(rng.integers(0, 365 * 80))  # MIMIC shifts dates into 2100–2200
        items = []
        for _ in range(size):
            date = np.datetime64("2110-01-01") + np.timedelta64(day, "D")
            hms = int(rng.integers(0, 86400))
            items.append(PlannedStudy(int(studies[k]), int(str(date).replace("-", "")),
                                      f"{hms // 3600:02d}{hms // 60 % 60:02d}{hms % 60:02d}."
                                      f"{int(rng.integers(1000)):03d}",
                                      bool(lateral[k]), bool(normal[k])))
            day += int(rng.integers(1, 400))
            k += 1
        out.append(PlannedPatient(i, int(subjects[i]), str(split[i]), items))
    return out


def _exact_share(rng, n: int, frac: float) -> np.ndarray:
    """Booleans with exactly round(frac·n) True at random places."""
    out = np.zeros(n, bool)
    out[rng.permutation(n)[: int(round(frac * n))]] = True
    return out


def dicom_id(seed: int, study_id: int, view: str) -> str:
    """A MIMIC-style identifier (five groups of eight hex digits) derived from the seed, study and view."""
    h = hashlib.blake2b(f"cxrvlp-phantom:{seed}:{study_id}:{view}".encode(), digest_size=20).hexdigest()
    return "-".join(h[i:i + 8] for i in range(0, 40, 8))


def simulate_patient(seed: int, pp: PlannedPatient, image_size: int):
    """Yield, study by study, everything needed to write it: images, finding footprints, anatomy masks, report,
    labels, metadata."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, pp.index]))
    patient = sample_patient(rng)
    prior = None
    for k, ps in enumerate(pp.studies):
        srng = np.random.default_rng(np.random.SeedSequence([seed, pp.index, k + 1]))
        pose = sample_pose(srng, patient, image_size)
        anat = build(patient, pose)
        found = [] if ps.normal else _findings(srng, anat, prior)
        frontal = "AP" if srng.random() < (0.35 if any(f.name == "support_devices" for f in found) else 0.04) else "PA"
        views = {"PA": frontal}
        if ps.lateral:
            views["LAT"] = "LL" if srng.random() < 0.1 else "LATERAL"
        spec = StudySpec(patient, pose, found, tuple(views), image_size, int(srng.integers(2**31)))
        memo: dict = {}
        images, feet = render_with_footprints(spec, memo)
        anatomy = anatomy_footprints(spec, memo)
        visible = {f.name: {v: feet[f.name][v].visible for v in views} for f in found}
        consp = {f.name: max(feet[f.name][v].conspicuity for v in views) for f in found}
        text, labels = write_report(srng, {"findings": found, "visible": visible, "conspicuity": consp,
                                           "views": list(views.values()), "prior": prior, "sex": patient.sex})
        ids = {v: dicom_id(seed, ps.study_id, v) for v in views}
        yield {"planned": ps, "views": views, "ids": ids, "images": images, "footprints": feet, "findings": found,
               "anatomy": anatomy, "report": text, "chexpert": labels, "patient": patient}
        prior = found


def _findings(rng: np.random.Generator, anat, prior) -> list:
    """Findings of an abnormal study: some of the previous study's persist, new ones may join."""
    kept = [fnd.evolve(rng, f, anat) for f in (prior or []) if rng.random() < fnd.persists(f.name)]
    names = {f.name for f in kept}
    new = [] if kept and rng.random() < 0.5 else [n for n in fnd.choose(rng, False) if n not in names]
    out = kept + [fnd.sample(n, rng, anat) for n in new]
    return sorted(out, key=lambda f: fnd.FINDINGS.index(f.name))
