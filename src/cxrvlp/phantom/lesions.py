"""3-D geometry of the lung and pleural findings: what each one adds to the scene, and how it changes anatomy.

Opacities replace aerated lung (μ_lung ≈ 0.05 /cm) by fluid or tissue (≈ 0.2 /cm), so they add
``Δμ = μ_opacity − μ_lung`` over their path *inside the aerated lung* (regions are cut by the lung cavity,
which is what makes an opacity that touches the heart or diaphragm erase that border: the silhouette sign).
A pneumothorax replaces lung by air (``Δμ = −μ_lung``). The lung-air weight of a region removes the
parenchymal texture where the lung no longer holds air.
"""
from __future__ import annotations

import math

import numpy as np

from .anatomy import MU_SOFT, SIGN, Anatomy, dome_height
from .primitives import Region, below, ellipsoid, rotation
from .scene import Parts, Samples


def _fill(anat: Anatomy, mu: float) -> tuple[float, float]:
    """(Δμ, lung-air weight) of tissue of attenuation ``mu`` replacing aerated lung."""
    d = mu - anat.patient.mu_lung
    return d, -d / (MU_SOFT - anat.patient.mu_lung)


def effusion(anat: Anatomy, side: str, top: float, menisc: float) -> Parts:
    """Pleural fluid below height ``top`` (at the chest wall), around a lung whose base is a bowl ``menisc`` deep.

    Fluid = cavity ∩ {z < top} minus the floating lung (an ellipsoid whose lower surface is the meniscus: lowest
    in the middle, rising to ``top`` laterally and posteriorly, where fluid collects first when upright).
    """
    lung = anat.lung[side]
    ax = math.sqrt(lung.cov[0])
    bottom = top - menisc
    rz = menisc + 0.6
    core = ellipsoid((lung.c[0] - SIGN[side] * 0.4, lung.c[1] + 1.6, bottom + rz),
                     (ax * 1.02, anat.patient.cage_y * 0.92, rz))
    region = anat.cavity(side, below(top), exc=(core,) if menisc > 0 else ())
    d, air = _fill(anat, MU_SOFT)
    return Parts(regions=[(region, d, air, "")], clears_vessels=[region])


def pneumothorax(anat: Anatomy, side: str, apex_gap: float) -> Parts:
    """Pleural air: the lung shrinks towards its hilum-base anchor, leaving an apical-lateral rim of air.

    The visceral pleura is drawn as a thin shell (samples on the collapsed lung's surface): seen edge-on it is the
    pleural line; no vessels remain beyond it.
    """
    lung = anat.lung[side]
    anchor = np.array([SIGN[side] * 4.5 * anat.patient.scale, lung.c[1], 0.0])
    ax, az = math.sqrt(lung.cov[0]), math.sqrt(lung.cov[8])
    height = lung.c[2] + az - anchor[2]
    fz = 1 - apex_gap / height
    lateral = abs(lung.c[0]) + ax - abs(anchor[0])
    fx = 1 - 0.5 * apex_gap / lateral
    retracted = lung.scaled(anchor, (fx, fx, fz))
    air = Region(anat.cavity(side).inc, (), anat.cutters(side) + (retracted,))
    parts = Parts(regions=[(air, -anat.patient.mu_lung, -1.0, "")], clears_vessels=[air])
    parts.samples.append(_pleural_line(anat, side, retracted))
    return parts


def _pleural_line(anat: Anatomy, side: str, retracted, step: float = 0.22, thick: float = 0.1) -> Samples:
    c = np.asarray(retracted.c)
    sx, sy, sz = np.sqrt(np.asarray(retracted.cov)[[0, 4, 8]])
    # the upper 75 % of the collapsed lung's surface on a (polar, azimuth) grid, with area weights
    nt = int(math.pi * sz / step)
    th = np.linspace(0, 0.75 * math.pi, nt)
    ring = 2 * math.pi * max(sx, sy) * np.sin(th) + 1e-6
    n = np.maximum((ring / step).astype(int), 4)
    t = np.repeat(th, n)
    ph = 2 * math.pi * (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    pts = np.stack([c[0] + sx * np.sin(t) * np.cos(ph), c[1] + sy * np.sin(t) * np.sin(ph), c[2] + sz * np.cos(t)], 1)
    area = np.repeat((ring / n) * (th[1] - th[0]) * np.hypot(sz * np.sin(th), max(sx, sy) * np.cos(th)), n)
    keep = anat.cavity(side).contains(pts)  # the part of the collapsed lung's surface that faces pleural air
    pts, area = pts[keep], area[keep]
    return Samples(pts, MU_SOFT * thick * area, np.zeros(len(pts)))


def opacity(anat: Anatomy, side: str, mu: float, blobs: tuple, lobe: str | None = None, bronchograms: bool = True,
            clear: bool = False) -> Parts:
    """Airspace or solid opacity: the union of ``blobs`` (or the whole lobe) inside the aerated lung."""
    lobe_cut = anat.lobe(side, lobe) if lobe else ()
    region = anat.cavity(side, *lobe_cut, any=blobs)
    d, air = _fill(anat, mu)
    parts = Parts(regions=[(region, d, air, "")])
    if clear:
        parts.clears_vessels.append(region)
    elif bronchograms:
        parts.bronchograms.append((region, mu))
    else:
        parts.clears_vessels.append(region)
    return parts


def edema(anat: Anatomy, delta: float, kerley: int, rng_seed: int, ds: float) -> Parts:
    """Perihilar haze: nested shells around each hilum add ``delta`` (innermost) to the lung; Kerley B lines."""
    parts = Parts()
    s = anat.patient.scale
    for side in ("R", "L"):
        hx, hy, hz = anat.hilum[side]
        for f, w in ((0.45, 0.5), (0.75, 0.35), (1.05, 0.15)):
            shell = ellipsoid((hx + SIGN[side] * 1.5 * f, hy, hz - 1.0), (6.5 * f * s, 7.5 * f * s, 9.0 * f * s))
            region = anat.cavity(side, shell)
            d, air = _fill(anat, anat.patient.mu_lung + delta * w)
            parts.regions.append((region, d, air, ""))
    if kerley:
        parts.samples.append(_kerley(anat, kerley, np.random.default_rng(rng_seed), ds))
    return parts


def _kerley(anat: Anatomy, n: int, rng: np.random.Generator, ds: float) -> Samples:
    """Kerley B lines: thin horizontal septal plates running in from the lateral pleura at the bases."""
    pts, w = [], []
    p = anat.patient
    for _ in range(n):
        side = "R" if rng.random() < 0.5 else "L"
        z = dome_height(anat, side, SIGN[side] * (p.cage_x - 2.0), 0.0) + rng.uniform(0.8, 4.5)
        y0 = rng.uniform(-4.0, 4.0)
        xo = SIGN[side] * (p.cage_x * math.sqrt(max(1 - (y0 / p.cage_y) ** 2, 0.1)) - 0.2)
        length, depth = rng.uniform(1.0, 2.0), rng.uniform(1.5, 3.0)
        u = np.arange(0, length, ds * 0.7)
        v = np.arange(-depth / 2, depth / 2, ds * 0.7)
        uu, vv = np.meshgrid(u, v)
        pts.append(np.stack([xo - SIGN[side] * uu.ravel(), y0 + vv.ravel(), np.full(uu.size, z)], 1))
        w.append(np.full(uu.size, (MU_SOFT - p.mu_lung) * 0.12 * (ds * 0.7) ** 2))
    pts, w = np.concatenate(pts), np.concatenate(w)
    keep = anat.cavity("R").contains(pts) | anat.cavity("L").contains(pts)
    return Samples(pts[keep], w[keep], np.zeros(int(keep.sum())))


def plate(anat: Anatomy, side: str, center, semi, tilt: float) -> Parts:
    """Plate-like (discoid) atelectasis: a thin dense disc, slightly tilted."""
    disc = ellipsoid(center, semi, rotation(pitch=SIGN[side] * tilt))
    region = anat.cavity(side, disc)
    d, air = _fill(anat, MU_SOFT)
    return Parts(regions=[(region, d, air, "")], clears_vessels=[region])


def blob(center, radius: float, elong=(1.0, 1.0, 1.0), yaw: float = 0.0):
    return ellipsoid(center, (radius * elong[0], radius * elong[1], radius * elong[2]), rotation(yaw=yaw))
