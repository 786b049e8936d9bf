"""The ten findings: random sampling with 3-D placement, and how each one changes the chest.

A :class:`Finding` is plain data (name, side, size word, JSON-safe parameters in cm), so it can be stored in the
ground truth and carried to a patient's next study. :func:`apply` turns a list of findings into an edited
anatomy plus scene parts; leaving one out of the list renders the same study without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import lesions
from .anatomy import SIGN, Anatomy, dome_height, recess_floor
from .devices import device_parts, sample_devices
from .primitives import ellipsoid
from .scene import Parts

FINDINGS = ("cardiomegaly", "pleural_effusion", "pneumothorax", "consolidation", "nodule", "mass",
            "atelectasis", "edema", "retrocardiac_opacity", "support_devices")
# relative frequency among abnormal studies (before co-occurrence); each ends up ≥ ~6 % of all studies
WEIGHTS = {"cardiomegaly": 1.0, "pleural_effusion": 1.2, "pneumothorax": 0.8, "consolidation": 1.0, "nodule": 0.75,
           "mass": 0.65, "atelectasis": 1.0, "edema": 0.75, "retrocardiac_opacity": 0.7, "support_devices": 1.0}
SIDE_WORD = {"R": "right", "L": "left", "B": "bilateral", "": ""}


@dataclass
class Finding:
    name: str
    side: str  # "right", "left", "bilateral" or "" (not lateralised)
    size_word: str
    params: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "side": self.side, "size_word": self.size_word, **self.params}


def _r(x: float) -> float:
    return round(float(x), 2)


def _side(rng, p_right=0.5) -> str:
    return "R" if rng.random() < p_right else "L"


def _point_in(rng, anat: Anatomy, side: str, cut=(), margin: float = 0.0, tries: int = 400, where=None):
    """A random point of the aerated lung on ``side`` (optionally within lobe half-spaces ``cut``)."""
    lung = anat.lung[side]
    h = np.sqrt(np.diag(np.asarray(lung.cov).reshape(3, 3)))
    region = anat.cavity(side, *cut)
    pts = np.asarray(lung.c) + (rng.random((tries, 3)) * 2 - 1) * h
    ok = region.contains(pts)
    if where is not None:
        ok &= where(pts)
    pts = pts[ok]
    if margin:  # the six points a margin away along the axes must be in the lung too
        for ax in range(3):
            for sg in (-1, 1):
                pts = pts[region.contains(pts + sg * margin * np.eye(3)[ax])]
    return pts[0] if len(pts) else None


def sample(name: str, rng: np.random.Generator, anat: Anatomy) -> Finding:
    """One finding of kind ``name`` placed in this patient's chest."""
    p = anat.patient
    s = p.scale
    if name == "cardiomegaly":
        ctr = float(rng.uniform(0.52, 0.65))
        word = "mild" if ctr < 0.56 else "moderate" if ctr < 0.6 else "severe"
        return Finding(name, "", word, {"ctr": _r(ctr)})
    if name == "pleural_effusion":
        u = rng.random()
        sides = ["R"] if u < 0.4 else ["L"] if u < 0.7 else ["R", "L"]
        size = str(rng.choice(["small", "moderate", "large"], p=[0.4, 0.35, 0.25]))
        levels = []  # [side, fluid top above the floor of the posterior recess (cm), meniscus depth (cm)]
        for sd in sides:
            if size == "small":
                levels.append([sd, _r(rng.uniform(1.6, 2.4)), 0.0])
            elif size == "moderate":
                levels.append([sd, _r(rng.uniform(6.0, 8.5)), _r(rng.uniform(2.0, 3.0))])
            else:
                levels.append([sd, _r(rng.uniform(11.5, 15.5)), _r(rng.uniform(2.5, 4.0))])
        return Finding(name, SIDE_WORD["B" if len(sides) == 2 else sides[0]], size, {"levels": levels})
    if name == "pneumothorax":
        size = str(rng.choice(["small", "moderate", "large"], p=[0.45, 0.35, 0.2]))
        gap = {"small": (1.2, 2.2), "moderate": (2.2, 4.0), "large": (4.0, 7.0)}[size]
        sd = _side(rng)
        return Finding(name, SIDE_WORD[sd], size, {"apex_gap_cm": _r(rng.uniform(*gap))})
    if name in ("consolidation", "retrocardiac_opacity"):
        return _airspace(name, rng, anat)
    if name == "nodule":
        sd = _side(rng, 0.55)
        r = float(rng.uniform(0.35, 1.45))
        c = _point_in(rng, anat, sd, margin=r + 0.3)
        word = "small" if 2 * r < 1.0 else "intermediate" if 2 * r < 2.0 else "large"
        calcified = bool(rng.random() < 0.15)
        return Finding(name, SIDE_WORD[sd], word, {"center": [_r(v) for v in c], "diameter_cm": _r(2 * r),
                                                  "calcified": calcified, "zone": _zone(anat, sd, c)})
    if name == "mass":
        sd = _side(rng, 0.55)
        diam = float(rng.uniform(3.0, 7.0))
        hilar = bool(rng.random() < 0.3)
        if hilar:
            c = np.asarray(anat.hilum[sd]) + np.array([SIGN[sd] * (1.2 + diam / 3), 0.0, rng.uniform(-1, 1)])
        else:
            c = _point_in(rng, anat, sd, margin=diam / 2.5)
        blobs = [[_r(v) for v in c] + [_r(diam / 2 * 0.85)]]
        for _ in range(int(rng.integers(0, 3))):
            off = rng.normal(0, diam / 5, 3)
            blobs.append([_r(v) for v in c + off] + [_r(diam / 2 * rng.uniform(0.45, 0.7))])
        return Finding(name, SIDE_WORD[sd], "large" if diam >= 5 else "moderate",
                       {"blobs": blobs, "diameter_cm": _r(diam), "hilar": hilar, "zone": _zone(anat, sd, c)})
    if name == "atelectasis":
        kind = str(rng.choice(["plate", "lobar"], p=[0.65, 0.35]))
        if kind == "plate":
            u = rng.random()
            sides = ["R"] if u < 0.35 else ["L"] if u < 0.6 else ["R", "L"]
            plates = []
            for sd in sides:
                x = SIGN[sd] * float(rng.uniform(4.5, 8.5)) * s
                plates.append([sd, _r(x), _r(rng.uniform(-3.0, 2.5)), _r(rng.uniform(1.2, 3.5)),
                               _r(rng.uniform(3.0, 5.0) * s),
                               _r(rng.uniform(2.5, 4.0)), _r(rng.uniform(0.3, 0.5)), _r(rng.uniform(-0.25, 0.25))])
            word = str(rng.choice(["minimal", "mild"]))
            return Finding(name, SIDE_WORD["B" if len(sides) == 2 else sides[0]], word,
                           {"kind": "plate", "plates": plates, "dome_rise_cm": _r(rng.uniform(0.3, 0.8))})
        sd = _side(rng)
        return Finding(name, SIDE_WORD[sd], "moderate", {"kind": "lobar", "lobe": "lower",
                                                         "dome_rise_cm": _r(rng.uniform(1.2, 2.2)),
                                                         "semi": [_r(rng.uniform(3.0, 4.0) * s),
                                                                  _r(rng.uniform(3.5, 4.5)),
                                                                  _r(rng.uniform(5.0, 6.5))]})
    if name == "edema":
        sev = str(rng.choice(["mild", "moderate", "severe"], p=[0.45, 0.35, 0.2]))
        delta = {"mild": (0.03, 0.045), "moderate": (0.06, 0.08), "severe": (0.1, 0.14)}[sev]
        kerley = {"mild": (6, 10), "moderate": (8, 14), "severe": (4, 8)}[sev]
        return Finding(name, "bilateral", sev, {"delta_mu": _r(rng.uniform(*delta) * 100) / 100,
                                                "kerley_lines": int(rng.integers(*kerley)),
                                                "seed": int(rng.integers(2**31))})
    if name == "support_devices":
        return Finding(name, "", "", {"devices": sample_devices(rng)})
    raise ValueError(f"unknown finding {name!r}; expected one of {FINDINGS}")


# Lung zones by height above the hemidiaphragm at the same (x, y), as a share of zone_scale: lower up to 0.3, mid up
# to 0.62, upper above (the `zone` of nodules and masses; the phantom's anatomy masks use the same limits).
ZONE_LIMITS = (0.3, 0.62)


def zone_scale(anat: Anatomy) -> float:
    """The height (cm) that :data:`ZONE_LIMITS` are shares of."""
    return anat.patient.lung_h - 4.0


def _zone(anat: Anatomy, side: str, c) -> str:
    f = (c[2] - dome_height(anat, side, c[0], c[1])) / zone_scale(anat)
    return "upper" if f > ZONE_LIMITS[1] else "mid" if f > ZONE_LIMITS[0] else "lower"


def _heart_span(heart, z: float) -> tuple[float, float]:
    """x-range of the heart's PA silhouette at height z (the projection of an ellipsoid is an ellipse)."""
    cov = np.asarray(heart.cov).reshape(3, 3)
    sxx, sxz, szz = cov[0, 0], cov[0, 2], cov[2, 2]
    dz = z - heart.c[2]
    mid = heart.c[0] + sxz / szz * dz
    half = np.sqrt(max((sxx - sxz**2 / szz) * (1 - dz**2 / szz), 0.0))
    return float(mid - half), float(mid + half)


def _airspace(name: str, rng: np.random.Generator, anat: Anatomy) -> Finding:
    s = anat.patient.scale
    mu = _r(rng.uniform(0.12, 0.19) * 100) / 100
    if name == "retrocardiac_opacity":
        # posterior-medial basal left lower lobe, kept inside the heart's PA silhouette at its height (hidden on
        # PA) and wide along x, so that the lateral view looks through its whole width
        dl = dome_height(anat, "L", 3.0 * s, -4.0)
        z = dl + float(rng.uniform(3.0, 4.5))
        lo, hi = _heart_span(anat.heart, z)
        lo, hi = max(lo + 0.5, 0.3), hi - 2.0  # well inside the silhouette: its edge is thin and lets light through
        half = max(min((hi - lo) / 2, 3.0 * s), 1.2)
        c = [_r((lo + hi) / 2), _r(rng.uniform(-4.4, -3.2)), _r(z)]
        semi = [_r(half), _r(rng.uniform(1.5, 2.0)), _r(rng.uniform(2.2, 3.0))]
        mu = _r(rng.uniform(0.15, 0.19) * 100) / 100
        return Finding(name, "left", "small" if semi[0] < 2.0 else "moderate",
                       {"center": c, "semi": semi, "mu": mu, "lobe": "lower", "dz_above_dome": _r(c[2] - dl)})
    sd = _side(rng, 0.55)
    lobes = ["upper", "middle", "lower"] if sd == "R" else ["upper", "lingula", "lower"]
    lobe = str(rng.choice(lobes, p=[0.3, 0.25, 0.45] if sd == "R" else [0.35, 0.25, 0.4]))
    extent = str(rng.choice(["lobar", "patchy", "focal"], p=[0.25, 0.5, 0.25]))
    where = (lambda q: q[:, 0] > 5.5 * s) if (sd == "L" and lobe == "lower") else None
    blobs = []
    if extent != "lobar":
        for _ in range(1 if extent == "focal" else int(rng.integers(2, 4))):
            c = _point_in(rng, anat, sd, anat.lobe(sd, lobe), margin=0.5, where=where)
            if c is None:
                c = np.asarray(anat.hilum[sd]) + np.array([SIGN[sd] * 3.0, 0.0, 0.0])
            blobs.append([_r(v) for v in c] + [_r(rng.uniform(2.2, 4.0) * s)])
    return Finding(name, SIDE_WORD[sd], extent, {"lobe": lobe, "extent": extent, "blobs": blobs, "mu": mu})


def _side_code(side: str) -> list[str]:
    return {"right": ["R"], "left": ["L"], "bilateral": ["R", "L"]}.get(side, [])


def modify(anat: Anatomy, f: Finding) -> Anatomy:
    """Anatomy changes a finding causes (heart size, volume loss)."""
    if f.name == "cardiomegaly":
        return replace(anat, heart=anat.with_heart_ctr(f.params["ctr"]))
    if f.name == "atelectasis":
        dome = dict(anat.dome)
        for sd in _side_code(f.side):
            dome[sd] = dome[sd].translated((0.0, 0.0, f.params["dome_rise_cm"]))
        return replace(anat, dome=dome)
    return anat


def parts(anat: Anatomy, f: Finding, ds: float) -> Parts:
    """Scene parts of a finding in an (already modified) anatomy."""
    p = f.params
    if f.name == "pleural_effusion":
        out = Parts()
        for sd, rise, menisc in p["levels"]:
            _merge(out, lesions.effusion(anat, sd, recess_floor(anat, sd) + rise, menisc))
        return out
    if f.name == "pneumothorax":
        return lesions.pneumothorax(anat, _side_code(f.side)[0], p["apex_gap_cm"])
    if f.name == "consolidation":
        sd = _side_code(f.side)[0]
        blobs = tuple(lesions.blob(b[:3], b[3], (1.0, 1.1, 1.25)) for b in p["blobs"])
        return lesions.opacity(anat, sd, p["mu"], blobs, lobe=p["lobe"])
    if f.name == "retrocardiac_opacity":
        c = list(p["center"])
        c[2] = dome_height(anat, "L", c[0], c[1]) + p["dz_above_dome"]
        blob = ellipsoid(c, p["semi"])
        return lesions.opacity(anat, "L", p["mu"], (blob,), lobe="lower")
    if f.name == "nodule":
        sd = _side_code(f.side)[0]
        ball = lesions.blob(p["center"], p["diameter_cm"] / 2)
        return lesions.opacity(anat, sd, 0.45 if p["calcified"] else 0.2, (ball,), bronchograms=False, clear=True)
    if f.name == "mass":
        sd = _side_code(f.side)[0]
        blobs = tuple(lesions.blob(b[:3], b[3]) for b in p["blobs"])
        return lesions.opacity(anat, sd, 0.2, blobs, bronchograms=False, clear=True)
    if f.name == "atelectasis":
        out = Parts()
        if p["kind"] == "plate":
            for sd, x, y, dz, a, b, c, tilt in p["plates"]:
                z = dome_height(anat, sd, x, y) + dz
                _merge(out, lesions.plate(anat, sd, (x, y, z), (a, b, c), tilt))
        else:
            sd = _side_code(f.side)[0]
            x, y = SIGN[sd] * 3.6 * anat.patient.scale, -5.2
            wedge = ellipsoid((x, y, dome_height(anat, sd, x, y) + 2.0), p["semi"])
            _merge(out, lesions.opacity(anat, sd, 0.2, (wedge,), lobe="lower", clear=True))
        return out
    if f.name == "edema":
        return lesions.edema(anat, p["delta_mu"], p["kerley_lines"], p["seed"], ds)
    if f.name == "support_devices":
        return device_parts(anat, p["devices"], ds)
    return Parts()


def _merge(a: Parts, b: Parts) -> None:
    for k in ("regions", "solids", "samples", "clears_vessels", "bronchograms"):
        getattr(a, k).extend(getattr(b, k))


def apply(anat: Anatomy, findings: list[Finding], ds: float) -> tuple[Anatomy, list[Parts]]:
    """The anatomy with every finding's changes, and each finding's scene parts (same order)."""
    for f in findings:
        anat = modify(anat, f)
    return anat, [parts(anat, f, ds) for f in findings]


def choose(rng: np.random.Generator, normal: bool) -> list[str]:
    """Finding names of one new study: none if normal, else 1–4 with edema's usual companions."""
    if normal:
        return []
    names = list(FINDINGS)
    w = np.array([WEIGHTS[n] for n in names])
    k = int(min(1 + rng.poisson(0.55), 4))
    chosen = list(rng.choice(names, size=k, replace=False, p=w / w.sum()))
    if "edema" in chosen:
        if "cardiomegaly" not in chosen and rng.random() < 0.55:
            chosen.append("cardiomegaly")
        if "pleural_effusion" not in chosen and rng.random() < 0.45:
            chosen.append("pleural_effusion")
    return sorted(chosen, key=FINDINGS.index)


def persists(name: str) -> float:
    """Probability that a finding is still there at the patient's next study."""
    return {"cardiomegaly": 0.9, "support_devices": 0.6, "nodule": 0.95, "mass": 0.95, "pleural_effusion": 0.5,
            "edema": 0.35, "atelectasis": 0.35, "consolidation": 0.35, "retrocardiac_opacity": 0.3,
            "pneumothorax": 0.25}[name]


def evolve(rng: np.random.Generator, f: Finding, anat: Anatomy) -> Finding:
    """The same finding at a follow-up study: mostly unchanged, effusions may grow or shrink."""
    if f.name == "pleural_effusion" and rng.random() < 0.4:
        new = sample(f.name, rng, anat)
        sides = [lv[0] for lv in f.params["levels"]]
        levels = [lv for lv in new.params["levels"] if lv[0] in sides] or new.params["levels"][:1]
        levels = [[sides[0], *levels[0][1:]]] + [[sd, *levels[0][1:]] for sd in sides[1:]]
        return Finding(f.name, f.side, new.size_word, {"levels": levels})
    return f


