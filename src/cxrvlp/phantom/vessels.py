"""Pulmonary vessel trees (the lung markings) and the central airways.

Vessels are blood in aerated lung: ``Δμ = μ_blood − μ_lung`` over a tube. A tree is grown from each hilum
(arteries) and from the left atrium (veins) by repeated asymmetric bifurcation (radius × ~0.8 / ~0.65 per
generation) until the radius falls below ~0.7 mm, where a vessel barely shows on a radiograph.
"""
from __future__ import annotations

import numpy as np

from .anatomy import SIDES, SIGN, Anatomy

R_MIN = 0.07


def _perpendicular(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=d.shape)
    v -= (v * d).sum(1, keepdims=True) * d
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def grow(rng: np.random.Generator, roots: np.ndarray, dirs: np.ndarray, radius: np.ndarray, length: np.ndarray,
         center: np.ndarray, generations: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments (start (N, 3), end (N, 3), radius (N,)) of trees grown from ``roots`` along ``dirs``."""
    P, D, R, L = roots.astype(float), dirs / np.linalg.norm(dirs, axis=1, keepdims=True), radius.astype(float), length
    starts, ends, radii = [], [], []
    for _ in range(generations):
        E = P + D * L[:, None]
        starts.append(P), ends.append(E), radii.append(R)
        n = len(P)
        perp = _perpendicular(D, rng)
        outward = E - center
        outward /= np.linalg.norm(outward, axis=1, keepdims=True)
        a1, a2 = rng.uniform(0.15, 0.45, n), rng.uniform(0.45, 0.9, n)
        d1 = D * np.cos(a1)[:, None] + perp * np.sin(a1)[:, None] + 0.25 * outward
        d2 = D * np.cos(a2)[:, None] - perp * np.sin(a2)[:, None] + 0.25 * outward
        P = np.concatenate([E, E])
        D = np.concatenate([d1, d2])
        D /= np.linalg.norm(D, axis=1, keepdims=True)
        R = np.concatenate([R * rng.uniform(0.74, 0.86, n), R * rng.uniform(0.58, 0.7, n)])
        L = np.concatenate([L * rng.uniform(0.72, 0.9, n), L * rng.uniform(0.6, 0.8, n)])
        keep = R >= R_MIN
        P, D, R, L = P[keep], D[keep], R[keep], L[keep]
        if not len(P):
            break
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(radii)


def vessel_segments(anat: Anatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pulmonary vessel segments of both lungs (arteries from the hila, veins towards the left atrium)."""
    p = anat.patient
    rng = np.random.default_rng(p.tree_seed)
    s = p.scale
    out = []
    for d in SIDES:
        sg = SIGN[d]
        hil = np.array(anat.hilum[d])
        lung_c = np.array(anat.lung[d].c)
        # arteries: upper, middle/lingula, lower (several) lobar branches
        dirs = np.array([[sg * 0.35, -0.1, 1.0], [sg * 0.8, 0.15, 0.55], [sg * 0.9, 0.5, -0.1], [sg * 0.6, 0.5, -0.7],
                         [sg * 0.7, -0.3, -0.65], [sg * 0.3, -0.8, -0.6], [sg * 0.5, -0.6, 0.3], [sg * 0.2, 0.7, 0.7]])
        dirs += rng.normal(0, 0.12, dirs.shape)
        roots = hil + np.array([sg * 0.8, 0.0, 0.0]) + rng.normal(0, 0.3, (len(dirs), 3))
        rad = s * np.array([0.72, 0.58, 0.58, 0.68, 0.7, 0.62, 0.5, 0.5]) * rng.uniform(0.9, 1.1, len(dirs))
        ln = s * np.array([3.2, 2.8, 2.8, 3.0, 3.2, 3.0, 2.6, 2.6])
        out.append(grow(rng, roots, dirs, rad, ln, lung_c + np.array([0.0, 0.0, -3.0])))
        # veins: lower, flatter, converging on the left atrium behind the heart
        la = np.array([sg * 2.8 * s, -1.6, hil[2] - 4.0])
        vd = np.array([[sg * 1.0, 0.2, 0.35], [sg * 1.0, -0.3, -0.2], [sg * 0.8, 0.3, -0.5], [sg * 0.6, -0.6, 0.1]])
        vd += rng.normal(0, 0.12, vd.shape)
        vroots = la + np.array([sg * 1.5, 0.0, 0.0])
        out.append(grow(rng, np.repeat(vroots[None], len(vd), 0), vd, s * np.array([0.5, 0.5, 0.45, 0.42]),
                        s * np.array([2.8, 2.8, 2.6, 2.6]), lung_c + np.array([0.0, 0.0, -6.0])))
    return (np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out]),
            np.concatenate([o[2] for o in out]))


def airway_paths(anat: Anatomy) -> list[tuple[np.ndarray, float]]:
    """Trachea and main bronchi as polylines with radius (cm), air in the mediastinum."""
    s = anat.patient.scale
    cx, cy, cz = anat.carina
    top = anat.patient.lung_h
    trachea = np.array([[0.0, 1.6, top + 14], [0.0, 1.2, top + 4], [cx * 0.5, 0.6, top - 3], [cx, cy + 0.2, cz + 0.4]])
    right = np.array([[cx, cy, cz + 0.2], [-1.6 * s, -0.1, cz - 1.2], [-3.1 * s, -0.4, cz - 2.4]])
    left = np.array([[cx, cy, cz + 0.2], [2.0 * s, -0.5, cz - 1.6], [3.6 * s, -0.9, cz - 3.6]])
    return [(trachea, 0.85 * s), (right, 0.6 * s), (left, 0.52 * s)]
