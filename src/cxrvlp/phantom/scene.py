"""What the projector consumes: regions with a Δμ, additive bone/metal solids, and tube samples.

Every item carries the attenuation it adds relative to what it replaces, so a projection is the sum of
``Δμ × path length`` over items. Tubes (ribs, vessels, wires) become samples along their centre line carrying
``Δμ·π·r²·ds``; the renderer spreads each one over a disc of radius ``r``, which reproduces the chord profile
of a cylinder at any orientation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import skeleton, vessels
from .anatomy import MU_FAT, MU_SOFT, SIDES, Anatomy
from .primitives import Region, ellipsoid

BIG = ellipsoid((0, 0, 0), (60.0, 60.0, 120.0))  # bounds unions such as the body


@dataclass
class Samples:
    """Points along tubes: ``weight`` = Δμ·volume (cm²·cm⁻¹·cm = cm²), ``radius`` the tube radius (cm)."""

    pos: np.ndarray
    weight: np.ndarray
    radius: np.ndarray
    magnify: bool | np.ndarray = False  # chest-wall bones get point-source magnification
    view: str = ""

    def __len__(self) -> int:
        return len(self.pos)

    def subset(self, keep: np.ndarray) -> Samples:
        mag = self.magnify[keep] if isinstance(self.magnify, np.ndarray) else self.magnify
        return Samples(self.pos[keep], self.weight[keep], self.radius[keep], mag, self.view)

    @staticmethod
    def concat(groups: list[Samples], view: str = "") -> Samples:
        mag = np.concatenate([np.broadcast_to(np.asarray(g.magnify), (len(g),)) for g in groups])
        return Samples(np.concatenate([g.pos for g in groups]), np.concatenate([g.weight for g in groups]),
                       np.concatenate([g.radius for g in groups]), mag, view)


def segment_samples(starts, ends, radii, dmu: float, ds: float, **kw) -> Samples:
    """Samples along straight segments, every ``ds`` cm or every half radius for thick tubes (their discs
    overlap anyway); ``radii`` is per segment, or (start, end) pairs."""
    starts, ends = np.asarray(starts, float), np.asarray(ends, float)
    r = np.asarray(radii, float)
    r0, r1 = (r[:, 0], r[:, 1]) if r.ndim == 2 else (r, r)
    seg = ends - starts
    ln = np.linalg.norm(seg, axis=1)
    n = np.maximum(np.ceil(ln / np.maximum(ds, 0.25 * (r0 + r1))).astype(int), 1)
    k = np.repeat(np.arange(len(ln)), n)
    f = ((np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) + 0.5) / n[k]
    pos = starts[k] + seg[k] * f[:, None]
    rad = r0[k] + (r1[k] - r0[k]) * f
    return Samples(pos, dmu * math.pi * rad**2 * (ln / n)[k], rad, **kw)


def path_samples(paths, dmu: float, ds: float, **kw) -> Samples:
    """Samples along polylines given as ``(points (K, 3), radius)`` with a scalar or per-vertex radius."""
    st, en, rr = [], [], []
    for pts, rad in paths:
        pts = np.asarray(pts, float)
        rad = np.broadcast_to(np.asarray(rad, float), (len(pts),))
        st.append(pts[:-1]), en.append(pts[1:]), rr.append(np.stack([rad[:-1], rad[1:]], 1))
    return segment_samples(np.concatenate(st), np.concatenate(en), np.concatenate(rr), dmu, ds, **kw)


def hollow_tube(paths, d_outer: float, d_inner: float, inner_frac: float, ds: float, **kw) -> list[Samples]:
    """A bone tube with a cortical shell: ``d_outer`` over the full radius plus ``d_inner − d_outer`` inside."""
    inner = [(p, np.asarray(r) * inner_frac) for p, r in paths]
    return [path_samples(paths, d_outer, ds, **kw), path_samples(inner, d_inner - d_outer, ds, **kw)]


@dataclass
class Parts:
    """What one finding adds to a scene."""

    regions: list = field(default_factory=list)  # (Region, Δμ, lung-air weight, view)
    solids: list = field(default_factory=list)  # (Δμ, Quadric)
    samples: list = field(default_factory=list)
    clears_vessels: list = field(default_factory=list)  # Regions where the lung markings vanish
    bronchograms: list = field(default_factory=list)  # (Region, μ of the opacity): air bronchi become visible


@dataclass
class Scene:
    regions: list  # (Region, Δμ, lung-air weight, view)
    solids: dict  # group name -> tuple of (Δμ, Quadric)
    samples: Samples  # normal anatomy: bones, airways, aerated vessels
    extra: list  # of Samples: what findings add or take away (vessels they fill, devices, ...)
    body: dict  # view -> Region of the body (for the lung fraction of a ray)


def _memo(memo: dict, key, fn):
    if key not in memo:
        memo[key] = fn()
    return memo[key]


_STATIC: dict = {}


def static_parts(anat: Anatomy, ds: float) -> tuple[dict, Samples]:
    """Solid groups and samples that depend on the patient only (bones, airways); kept for the patient's next
    studies in a small per-process cache."""
    key = (anat.patient, ds)
    if key not in _STATIC:
        if len(_STATIC) > 8:
            _STATIC.clear()
        _STATIC[key] = _static_parts(anat, ds)
    return _STATIC[key]


def _static_parts(anat: Anatomy, ds: float) -> tuple[dict, Samples]:
    solids = {"spine": tuple(skeleton.spine_solids(anat)), "bones": tuple(skeleton.other_bone_solids(anat))}
    samples = []
    samples += hollow_tube(skeleton.rib_paths(anat), 0.26, 0.1, 0.62, ds, magnify=True)
    samples += hollow_tube(skeleton.clavicle_paths(anat), 0.3, 0.12, 0.6, ds, magnify=True)
    samples.append(path_samples(skeleton.scapula_paths(anat), 0.22, ds, magnify=True))
    samples.append(path_samples(vessels.airway_paths(anat), -MU_SOFT, ds))
    return solids, Samples.concat(samples)


def anatomy_regions(anat: Anatomy) -> list:
    p = anat.patient
    regions = []
    for view, parts in anat.body_parts.items():
        regions.append((Region((BIG,), parts), MU_SOFT, 0.0, view))
    for b in anat.breasts:
        regions.append((Region((b,), (), (anat.torso,)), MU_FAT - 0.03, 0.0, ""))
    for side in SIDES:
        regions.append((anat.cavity(side), p.mu_lung - MU_SOFT, 1.0, ""))
    for gas, dome in anat.gas:
        regions.append((Region((gas, dome)), -MU_SOFT, 0.0, ""))
    return regions


_VESSELS: dict = {}


def _vessel_samples(patient, ds: float, anat: Anatomy) -> Samples:
    """The patient's vessel trees as samples, kept for the patient's next studies (a small per-process cache)."""
    key = (patient, ds)
    if key not in _VESSELS:
        if len(_VESSELS) > 8:
            _VESSELS.clear()
        st, en, rad = vessels.vessel_segments(anat)
        smp = segment_samples(st, en, rad, MU_SOFT - patient.mu_lung, ds)
        inside = np.zeros(len(smp), bool)  # the lung envelopes; heart, mediastinum and domes cut per study
        for side in SIDES:
            inside |= Region((anat.lung[side], anat.cage, anat.midline[side])).contains(smp.pos)
        _VESSELS[key] = smp.subset(inside)
    return _VESSELS[key]


def _aerated_vessels(anat: Anatomy, ds: float, memo: dict) -> Samples:
    smp = _vessel_samples(anat.patient, ds, anat)

    def keep():  # the samples already lie in the lung envelopes: test the floor and the cutters only
        k = np.zeros(len(smp), bool)
        for side in SIDES:
            idx = np.flatnonzero((smp.pos[:, 0] < 0) if side == "R" else (smp.pos[:, 0] >= 0))
            k[idx[Region((anat.floor,), (), anat.cutters(side)).contains(smp.pos[idx])]] = True
        return smp.subset(k)

    return _memo(memo, ("aerated", anat.cavity("R"), anat.cavity("L"), ds), keep)


def lung_markings(anat: Anatomy, ds: float, parts: list[Parts], memo: dict) -> tuple[Samples, list[Samples]]:
    """Vessels inside aerated lung; findings that fill the lung remove theirs (as a small negative group, so the
    big vessel group is shared by all variants of a study) and may show air bronchograms instead."""
    smp = _aerated_vessels(anat, ds, memo)
    clears = tuple(r for part in parts for r in part.clears_vessels)
    bronchi = tuple(b for part in parts for b in part.bronchograms)
    if not clears and not bronchi:
        return smp, []

    def build():
        dmu = MU_SOFT - anat.patient.mu_lung
        gone = np.zeros(len(smp), bool)
        out = []
        for region, mu in bronchi:
            inside = _inside(region, smp.pos) & ~gone
            big = inside & (smp.radius >= 0.1)
            if big.any():  # weight/Δμ_vessel = π r² ds; a bronchus of radius 0.6 r holds air
                b = smp.subset(big)
                out.append(Samples(b.pos, b.weight * (-mu * 0.36 / dmu), 0.6 * b.radius))
            gone |= inside
        for region in clears:
            gone |= _inside(region, smp.pos)
        removed = smp.subset(gone)
        removed.weight = -removed.weight
        return [removed] + out

    return smp, _memo(memo, ("markings", clears, bronchi, anat.cavity("R"), anat.cavity("L"), ds), build)


def _inside(region: Region, pts: np.ndarray) -> np.ndarray:
    """Point test restricted first to the region's bounding box along x, y and z (cheap pre-filter)."""
    inside = np.zeros(len(pts), bool)
    lo, hi = np.full(3, -1e9), np.full(3, 1e9)
    for prim in region.inc:
        if hasattr(prim, "cov"):
            h = np.sqrt(np.diag(np.asarray(prim.cov).reshape(3, 3)))
            lo, hi = np.maximum(lo, np.asarray(prim.c) - h), np.minimum(hi, np.asarray(prim.c) + h)
    cand = np.flatnonzero(np.all((pts >= lo) & (pts <= hi), axis=1))
    if len(cand):
        inside[cand] = region.contains(pts[cand])
    return inside


def assemble(anat: Anatomy, parts: list[Parts], ds: float, memo: dict | None = None) -> Scene:
    """The scene of an anatomy plus finding parts; ``memo`` shares unchanged pieces between variants."""
    memo = {} if memo is None else memo
    solids, static = static_parts(anat, ds)
    solids = dict(solids)
    regions = anatomy_regions(anat)
    vessels_, extra = lung_markings(anat, ds, parts, memo)
    samples = _memo(memo, ("anatomy samples", id(static), id(vessels_)), lambda: Samples.concat([static, vessels_]))
    extra_solids = []
    for part in parts:
        regions += part.regions
        extra_solids += part.solids
        extra = extra + part.samples
    if extra_solids:
        solids["devices"] = tuple(extra_solids)
    body = {v: Region((BIG,), prts) for v, prts in anat.body_parts.items()}
    return Scene(regions, solids, samples, [e for e in extra if len(e)], body)
