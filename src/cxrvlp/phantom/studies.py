"""One study: its specification, its rendering with or without chosen findings, and each finding's footprint.

A finding's footprint in a view is measured, not assumed: the study is rendered noise-free with and without the
finding, and the mask is every pixel whose gray level moves by at least ``MASK_LEVEL``. ``visible`` asks
whether a reader would see it: the change, smoothed over 3×3 pixels, reaches ``VISIBLE_LEVEL`` gray levels
where the background is lung (for devices and heart size: anywhere). Behind the heart or below the dome the
change is real but lost in dense tissue, which is why a small posterior effusion shows only on the lateral view.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import findings as fnd
from .anatomy import Patient, Pose, build
from .primitives import Region
from .render import COARSE, Projection, _upsample, make_views, project, to_display
from .scene import assemble

SAMPLE_FOV = 38.0  # cm: tube samples are spaced a nominal pixel apart, whatever the study's field
MASK_LEVEL = 0.5  # gray levels (of 255), noise-free
VISIBLE_LEVEL = 6.0
# aerated share of the body path that makes a pixel "lung background": lower on the lateral view, whose rays
# always cross the mediastinum and spine as well
LUNG_FIELD = {"PA": 0.5, "LAT": 0.35}
ANYWHERE = ("support_devices", "cardiomegaly")


@dataclass
class StudySpec:
    patient: Patient
    pose: Pose
    findings: list  # of findings.Finding
    views: tuple  # "PA" and optionally "LAT"
    image_size: int
    noise_seed: int


@dataclass
class FindingView:
    mask: np.ndarray  # bool, image size
    visible: bool
    conspicuity: float  # peak smoothed change, gray levels
    box: list | None  # [x0, y0, x1, y1], exclusive end


def _project(spec: StudySpec, exclude: tuple, memo: dict) -> tuple[dict, dict]:
    if "anatomy" not in memo:
        memo["anatomy"] = build(spec.patient, spec.pose)
    anat = memo["anatomy"]
    views = make_views(anat, spec.views, spec.image_size)
    ds = SAMPLE_FOV / spec.image_size
    kept = [f for f in spec.findings if f.name not in exclude]
    for f in kept:
        anat = fnd.modify(anat, f)
    key = (anat.heart, anat.dome["R"], anat.dome["L"])
    parts = [_memo_get(memo, ("parts", id(f), key), lambda: fnd.parts(anat, f, ds)) for f in kept]
    scene = assemble(anat, parts, ds, memo)
    out = {name: project(scene, v, anat, memo, spec.noise_seed * 7 + 3 + i)
           for i, (name, v) in enumerate(views.items())}
    return out, {"anat": anat, "views": views}


def _memo_get(memo: dict, key, fn):
    if key not in memo:
        memo[key] = fn()
    return memo[key]


def render_study(spec: StudySpec, exclude=(), noise: bool = True, memo: dict | None = None) -> dict[str, np.ndarray]:
    """8-bit images by view ("PA", "LAT"); ``exclude`` names findings to leave out (same noise either way)."""
    proj, ctx = _project(spec, tuple(exclude), {} if memo is None else memo)
    out = {}
    for i, (name, pr) in enumerate(proj.items()):
        d = to_display(pr, ctx["anat"], name, spec.noise_seed * 7 + i if noise else None)
        out[name] = np.clip(np.rint(d), 0, 255).astype(np.uint8)
    return out


def render_with_footprints(spec: StudySpec, memo: dict | None = None) -> tuple[dict, dict]:
    """Noisy 8-bit images and, per finding and view, its :class:`FindingView`."""
    memo = {} if memo is None else memo
    proj, ctx = _project(spec, (), memo)
    anat = ctx["anat"]
    images, clean = {}, {}
    for i, (name, pr) in enumerate(proj.items()):
        images[name] = np.clip(np.rint(to_display(pr, anat, name, spec.noise_seed * 7 + i)), 0, 255).astype(np.uint8)
        if spec.findings:
            clean[name] = to_display(pr, anat, name, None)
    feet = {}
    for f in spec.findings:
        proj_wo, ctx_wo = _project(spec, (f.name,), memo)
        feet[f.name] = {}
        for name, pr_wo in proj_wo.items():
            without = to_display(pr_wo, ctx_wo["anat"], name, None)
            feet[f.name][name] = footprint(f.name, clean[name] - without, pr_wo, ctx, name)
    return images, feet


def footprint(name: str, diff: np.ndarray, base: Projection, ctx: dict, view: str) -> FindingView:
    mag = np.abs(diff)
    mask = mag >= MASK_LEVEL
    if name == "cardiomegaly":  # the enlarged heart's silhouette, not only the rim it gained
        cv = ctx["views"][view].coarse(COARSE)
        item = Region((ctx["anat"].heart,)).length(cv)
        if item is not None:
            full = np.zeros((cv.h, cv.w), np.float32)
            (r0, r1, c0, c1), arr = item
            full[r0:r1, c0:c1] = arr
            mask |= _upsample(full, mag.shape[0], mag.shape[1]) > 1.0
    smooth = ndimage.uniform_filter(mag, 3, mode="constant")
    if name not in ANYWHERE:
        # lung background, plus a 0.5 cm rim: filling a costophrenic angle or a border next to lung shows too
        rim = max(int(round(0.5 / ctx["views"][view].pitch)), 1)
        field = ndimage.maximum_filter(base.lung_field(LUNG_FIELD[view]), size=2 * rim + 1)
        smooth = np.where(field, smooth, 0)
    peak = float(smooth.max()) if smooth.size else 0.0
    box = None
    if mask.any():
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    return FindingView(mask, bool(peak >= VISIBLE_LEVEL and mask.any()), round(peak, 2), box)
