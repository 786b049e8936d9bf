"""Bones: vertebrae, sternum, scapulae and humeral heads as small solids; ribs and clavicles as 3-D tubes.

Bone replaces soft tissue, so each piece carries ``Δμ = μ_bone − μ_soft`` (cortex ~0.45–0.6 /cm, cancellous
~0.35 /cm). Hollow profiles (a tube minus a thinner one) give the bright cortical edges of ribs and vertebrae.
"""
from __future__ import annotations

import math

import numpy as np

from .anatomy import SIDES, SIGN, Anatomy
from .primitives import cylinder_z, ellipsoid, rotation

D_CORTEX = 0.24
D_CANCELLOUS = 0.07
_SPINOUS = rotation(roll=-0.5)  # spinous processes point down and back


def spline(points, n: int) -> np.ndarray:
    """Catmull–Rom curve through ``points`` (K, 3), ``n`` vertices."""
    P = np.asarray(points, dtype=float)
    P = np.vstack([2 * P[0] - P[1], P, 2 * P[-1] - P[-2]])
    t = np.linspace(0, len(P) - 3, n)
    i = np.minimum(t.astype(int), len(P) - 4)
    f = (t - i)[:, None]
    p0, p1, p2, p3 = P[i], P[i + 1], P[i + 2], P[i + 3]
    return 0.5 * ((2 * p1) + (-p0 + p2) * f + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * f**3)


def vertebra_levels(anat: Anatomy) -> list[tuple[float, float, float]]:
    """(bottom z, height, y centre) of each vertebral body from C6 down to L2; T1 sits at the lung apex."""
    p = anat.patient
    levels = []
    z = p.lung_h + 1.0 + 2 * 1.9 * p.scale  # top of C6
    for k in range(-2, 14):  # C6, C7, T1..T12, L1, L2
        hgt = p.scale * (1.5 + 0.07 * max(k, 0) + (0.3 if k >= 12 else 0.0))
        gap = p.scale * (0.45 + 0.02 * max(k, 0))
        bottom = z - hgt
        tz = (k + 0.5) / 12.0
        y = -6.0 * p.scale - p.kyphosis * math.sin(math.pi * min(max(tz, 0.0), 1.0)) + (0.6 if k < 0 else 0.0)
        levels.append((bottom, hgt, y))
        z = bottom - gap
    return levels


def spine_solids(anat: Anatomy) -> list:
    """Vertebral bodies (cortical shell + cancellous core), pedicles and spinous processes."""
    s = anat.patient.scale
    out = []
    for k, (zb, h, yc) in enumerate(vertebra_levels(anat)):
        t = k / 15
        rx, ry = s * (1.55 + 0.9 * t), s * (1.25 + 0.55 * t)
        if k < 2:
            rx, ry = rx * 0.85, ry * 0.8
        out.append((0.14, cylinder_z((0, yc), (rx, ry), zb, zb + h)))
        out.append((0.05 - 0.14, cylinder_z((0, yc), (rx - 0.2, ry - 0.2), zb + 0.07, zb + h - 0.07)))
        back = yc - ry
        for d in SIDES:  # pedicles: the paired ovals over each body on PA
            out.append((0.12, ellipsoid((SIGN[d] * rx * 0.62, back - 0.7, zb + 0.62 * h), (0.45, 1.0, 0.5 * h))))
        out.append((0.14, ellipsoid((0, back - 2.4, zb + 0.1 * h), (0.45, 1.9, 0.55), _SPINOUS)))
    return out


def other_bone_solids(anat: Anatomy) -> list:
    """Sternum, scapular blades and humeral heads."""
    p = anat.patient
    s, cy, top = p.scale, p.cage_y, p.lung_h
    out = [
        (0.24, ellipsoid((0, cy + 0.9, top - 5.0), (2.4 * s, 0.7, 2.4 * s))),
        (0.22, ellipsoid((0, cy + 1.1, top - 13.0), (1.5 * s, 0.6, 6.5 * s), rotation(roll=-0.12))),
    ]
    for d in SIDES:
        sg = SIGN[d]
        out.append((0.2, ellipsoid((sg * (p.cage_x - 3.0), -(cy + 1.2), top - 8.0), (4.6 * s, 0.45, 7.0 * s),
                                   rotation(yaw=sg * 0.62))))
        head = (sg * (p.cage_x + p.wall + 3.6), -1.8, top + 0.5)
        out.append((0.2, ellipsoid(head, (2.5 * s, 2.5 * s, 2.6 * s))))
        out.append((-0.13, ellipsoid(head, (2.25 * s, 2.25 * s, 2.35 * s))))
    return out


def rib_paths(anat: Anatomy) -> list[tuple[np.ndarray, float]]:
    """Twelve ribs per side as (polyline (K, 3), radius cm), hugging the lung surface from spine to cartilage."""
    p = anat.patient
    lev = vertebra_levels(anat)[2:14]  # T1..T12
    theta_end = np.array([0.86, 0.84, 0.82, 0.8, 0.78, 0.76, 0.74, 0.7, 0.64, 0.56, 0.42, 0.3]) * math.pi
    drop = np.array([4.0, 6.0, 7.5, 8.5, 9.2, 9.6, 9.6, 9.0, 8.0, 6.5, 4.5, 2.5]) * p.scale
    radius = np.array([0.42, 0.48, 0.52, 0.54, 0.55, 0.55, 0.55, 0.54, 0.52, 0.5, 0.45, 0.4]) * p.scale
    out = []
    for d in SIDES:
        sg = SIGN[d]
        lung = anat.lung[d]
        lx, lz = abs(lung.c[0]), lung.c[2]
        ax, ay, az = math.sqrt(lung.cov[0]), math.sqrt(lung.cov[4]), math.sqrt(lung.cov[8])
        for k in range(12):
            zb, h, yv = lev[k]
            zh = zb + 0.6 * h
            te = theta_end[k]
            a1 = 1.3
            a2 = (a1 * te + drop[k]) / te**2
            th = np.linspace(0, te, 36)
            z = zh + a1 * th - a2 * th**2
            kz = np.sqrt(np.clip(1 - ((z - lz) / az) ** 2, 0.03, 1))
            hx = np.minimum(p.cage_x, lx + ax * kz) + 0.75
            hy = np.minimum(p.cage_y, ay * kz) + 0.75
            ex, ey = sg * hx * np.sin(th), -0.3 - hy * np.cos(th)
            head = np.array([sg * 2.3 * p.scale, yv - 1.3])
            blend = np.clip(th / (0.28 * math.pi), 0, 1)
            blend = blend * blend * (3 - 2 * blend)
            x = head[0] + (ex - head[0]) * blend
            y = head[1] + (ey - head[1]) * blend
            taper = 1 - 0.4 * np.clip((th / te - 0.55) / 0.45, 0, 1)  # anterior ribs are thinner
            out.append((np.stack([x, y, z], 1), radius[k] * taper))
    return out


def clavicle_paths(anat: Anatomy) -> list[tuple[np.ndarray, float]]:
    p = anat.patient
    s, cy = p.scale, p.cage_y
    zc = p.lung_h - 2.0 * s
    out = []
    for d in SIDES:
        sg = SIGN[d]
        pts = [(sg * 1.6 * s, cy + 1.3, zc), (sg * 5.5 * s, cy + 0.9, zc + 0.7), (sg * 10.5 * s, cy - 2.2, zc + 0.9),
               (sg * (p.cage_x + p.wall + 0.5), -0.8, zc + 1.8)]
        out.append((spline(pts, 24), 0.62 * s))
    return out


def scapula_paths(anat: Anatomy) -> list[tuple[np.ndarray, float]]:
    """Lateral (axillary) border and spine of each scapula, the parts seen as lines."""
    p = anat.patient
    s, cy, top = p.scale, p.cage_y, p.lung_h
    out = []
    for d in SIDES:
        sg = SIGN[d]
        gx = sg * (p.cage_x + p.wall - 0.5)
        out.append((spline([(sg * (p.cage_x - 1.0), -(cy - 1.0), top - 15.0),
                            (sg * (p.cage_x + 0.5), -(cy - 3.5), top - 8), (gx, -2.5, top - 1.2)], 16), 0.42 * s))
        out.append((spline([(sg * 4.5 * s, -(cy + 2.0), top - 3.5), (sg * 9.0 * s, -(cy + 1.5), top - 2.2),
                            (gx, -2.0, top + 0.2)], 16), 0.38 * s))
    return out
