"""Support devices: endotracheal and enteric tubes, central lines, pacemakers, sternotomy wires.

Metal and radiopaque markers are far denser than bone (steel μ ≈ 9 /cm, titanium ≈ 1–2 /cm, barium-loaded
catheter stripes ≈ 1–3 /cm at 60 keV); plastic tube walls are about soft tissue. Paths are 3-D polylines in
patient coordinates, so every device projects consistently into both views.
"""
from __future__ import annotations

import math

import numpy as np

from .anatomy import SIGN, Anatomy
from .primitives import ellipsoid
from .scene import Parts, hollow_tube, path_samples
from .skeleton import spline

KINDS = ("ett", "cvc", "picc", "pacemaker", "sternotomy", "ng_tube")


def sample_devices(rng: np.random.Generator) -> list[dict]:
    """1–3 devices with their placement parameters."""
    weights = np.array([0.3, 0.35, 0.12, 0.25, 0.25, 0.2])
    n = int(rng.choice([1, 1, 1, 2, 2, 3]))
    kinds = rng.choice(len(KINDS), size=n, replace=False, p=weights / weights.sum())
    out = []
    for k in sorted(kinds):
        kind = KINDS[k]
        d = {"kind": kind}
        if kind == "ett":
            d["above_carina"] = round(float(rng.uniform(2.5, 6.0)), 1)
        elif kind == "cvc":
            d["route"] = str(rng.choice(["right internal jugular", "left internal jugular", "left subclavian",
                                         "right subclavian"], p=[0.5, 0.15, 0.2, 0.15]))
            d["tip"] = str(rng.choice(["SVC", "cavoatrial junction", "right atrium"], p=[0.6, 0.3, 0.1]))
        elif kind == "picc":
            d["side"] = str(rng.choice(["right", "left"], p=[0.7, 0.3]))
            d["tip"] = str(rng.choice(["SVC", "cavoatrial junction"], p=[0.6, 0.4]))
        elif kind == "pacemaker":
            d["side"] = str(rng.choice(["left", "right"], p=[0.8, 0.2]))
            d["leads"] = int(rng.choice([1, 2, 2, 3]))
        elif kind == "sternotomy":
            d["wires"] = int(rng.integers(5, 8))
        out.append(d)
    return out


def _tip_z(anat: Anatomy, tip: str) -> float:
    top = anat.patient.lung_h
    return {"SVC": top - 9.5, "cavoatrial junction": top - 12.0, "right atrium": top - 14.0}[tip]


def device_parts(anat: Anatomy, devices: list[dict], ds: float) -> Parts:
    p = anat.patient
    s, top, cy = p.scale, p.lung_h, p.cage_y
    wy = cy + p.wall * 0.6
    parts = Parts()
    tube = lambda pts, r, mu: parts.samples.append(path_samples([(spline(pts, 60), r)], mu, ds))  # noqa: E731
    for d in devices:
        kind = d["kind"]
        if kind == "ett":
            cx, cy_, cz = anat.carina
            tip = cz + d["above_carina"]
            pts = [(0.0, 4.0, top + 22), (0.0, 2.2, top + 9), (0.1, 1.2, top + 2), (cx * 0.6, 0.5, (top + tip) / 2),
                   (cx, 0.3, tip)]
            path = spline(pts, 60)
            parts.samples += hollow_tube([(path, 0.45)], 0.2, 0.0, 0.8, ds)
            parts.samples.append(path_samples([(path + np.array([0.36, 0.0, 0.0]), 0.09)], 8.0, ds))
        elif kind == "ng_tube":
            dl = anat.dome["L"].c[2] + math.sqrt(anat.dome["L"].cov[8])
            pts = [(0.4, 6.0, top + 22), (0.6, -1.0, top + 6), (1.0, -3.3, top - 4), (1.7, -3.4, dl + 2),
                   (3.8, -1.5, dl - 2.5), (6.5, 1.0, dl - 5.0), (8.0, 2.5, dl - 4.0)]
            path = spline(pts, 80)
            parts.samples += hollow_tube([(path, 0.28)], 0.2, 0.0, 0.7, ds)
            parts.samples.append(path_samples([(path + np.array([0.25, 0.0, 0.0]), 0.07)], 5.0, ds))
        elif kind in ("cvc", "picc"):
            zt = _tip_z(anat, d["tip"])
            svc = [(-1.9 * s, 2.0, top - 6.5), (-1.6 * s, 2.0, zt)]
            if kind == "picc":
                sg = SIGN["R" if d["side"] == "right" else "L"]
                start = [(sg * 24.0, -0.5, top - 4.0), (sg * 17.0, 0.5, top + 0.5), (sg * 11.0, 1.8, top + 1.0),
                         (sg * 5.0, 2.5, top - 1.5)]
            else:
                route = d["route"]
                sg = SIGN["R" if route.startswith("right") else "L"]
                if "jugular" in route:
                    start = [(sg * 3.6 * s, 2.5, top + 14), (sg * 3.4 * s, 2.2, top + 5),
                             (sg * 2.6 * s, 2.2, top - 1.5)]
                else:
                    start = [(sg * 12.0 * s, 3.0, top + 0.8), (sg * 7.5 * s, 2.8, top - 0.5),
                             (sg * 3.0 * s, 2.4, top - 3.0)]
                if sg > 0:
                    start.append((0.5, 2.3, top - 5.0))
            tube(start + svc, 0.12, 3.0)
        elif kind == "pacemaker":
            sg = SIGN["R" if d["side"] == "right" else "L"]
            gen = (sg * 9.0 * s, wy + 0.9, top - 4.0)
            parts.solids.append((2.2, ellipsoid(gen, (2.4 * s, 0.45, 2.0 * s))))
            vein = [gen, (sg * 6.5 * s, wy - 0.8, top - 2.2), (sg * 3.0 * s, 2.4, top - 3.2),
                    (-1.5 * s, 2.1, top - 8.0)]
            ends = [[(-2.6 * s, 3.5, top - 15.0), (1.0 * s, 6.0, top - 19.5), (4.6 * s, 6.8, top - 21.0)],
                    [(-2.8 * s, 3.6, top - 13.0), (-0.8 * s, 5.6, top - 11.5)],
                    [(-2.4 * s, 2.5, top - 14.5), (3.0 * s, 1.0, top - 15.0), (7.0 * s, -1.0, top - 14.0)]]
            for k in range(d["leads"]):
                lead = vein + ends[k]
                tube(lead + [(lead[-1][0] + 0.3, lead[-1][1], lead[-1][2])], 0.11, 3.0)
        elif kind == "sternotomy":
            n = d["wires"]
            ph = np.linspace(0, 2 * math.pi, 28)
            for z in np.linspace(top - 7.0, top - 19.5, n):
                y0 = cy + 1.1 - 0.05 * (top - z)
                loop = np.stack([1.9 * s * np.cos(ph), y0 + 0.9 * np.sin(ph), z + 0.25 * np.sin(2 * ph)], 1)
                knot = np.array([[0.0, y0 + 0.9, z], [0.15, y0 + 1.3, z + 0.1], [-0.1, y0 + 1.6, z - 0.1]])
                parts.samples.append(path_samples([(loop, 0.06), (knot, 0.09)], 9.0, ds))
    return parts
