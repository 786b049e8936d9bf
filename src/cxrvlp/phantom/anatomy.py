"""A random adult chest in 3-D: body, lungs and lobes, heart, mediastinum, aorta, diaphragm domes.

Units are cm and 1/cm (see :mod:`.primitives` for the axes). A :class:`Patient` holds what stays fixed across one
person's studies; :class:`Pose` holds what changes from one study to the next (inspiration, rotation,
collimation, exposure). :func:`build` turns both into an :class:`Anatomy` of named solids, which findings may
modify before the scene is assembled. Bones live in :mod:`.skeleton`, vessels and airways in :mod:`.vessels`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .primitives import HalfSpace, Quadric, Region, above, cylinder_z, ellipsoid, plane, rotation

MU_SOFT = 0.20  # soft tissue, blood, pleural fluid (1/cm at ~60 keV)
MU_FAT = 0.18
SIDES = ("R", "L")
SIGN = {"R": -1.0, "L": 1.0}  # x of the patient's right is negative


@dataclass(frozen=True)
class Patient:
    """Body habitus of one person, drawn once and shared by all their studies."""

    sex: str
    age: int
    scale: float
    cage_x: float  # inner half-width of the thoracic cage
    cage_y: float  # inner half-depth
    wall: float  # chest wall thickness
    lung_h: float  # apex height above the costophrenic angles
    mu_lung: float
    ctr: float  # normal cardiothoracic ratio of this heart
    heart_yaw: float
    heart_tilt: float
    breast: float  # 0 = none, else size factor
    arms_out: bool
    dome_r: float  # right dome apex height at mid inspiration
    dome_gap: float  # how much lower the left dome is
    bubble: float  # gastric air bubble size factor (0 = none)
    kyphosis: float
    tree_seed: int


@dataclass(frozen=True)
class Pose:
    """Per-study positioning and exposure."""

    inspiration: float  # dome shift, cm (positive = shallower breath)
    yaw: dict  # view name -> rotation about z, radians
    center: dict  # view name -> (column offset, top of field) cm
    width_frac: dict  # view name -> image width / height
    fov_h: float  # field height, cm
    lung_gray: dict  # view name -> display level of an average lung ray (0..1)
    dense_gray: dict  # view name -> display level of the abdomen
    noise: float  # quantum noise level at lung attenuation (attenuation units)
    sharpen: float
    texture: float


def sample_patient(rng: np.random.Generator) -> Patient:
    sex = "F" if rng.random() < 0.5 else "M"
    s = float(np.clip(rng.normal(1.0 if sex == "M" else 0.93, 0.06), 0.8, 1.2))
    return Patient(
        sex=sex, age=int(rng.integers(22, 92)), scale=s,
        cage_x=13.6 * s * float(rng.uniform(0.95, 1.06)), cage_y=8.8 * s * float(rng.uniform(0.92, 1.08)),
        wall=float(rng.uniform(1.4, 3.2)), lung_h=24.5 * s * float(rng.uniform(0.93, 1.07)),
        mu_lung=float(rng.uniform(0.042, 0.06)), ctr=float(rng.uniform(0.40, 0.485)),
        heart_yaw=float(rng.uniform(0.45, 0.7)), heart_tilt=float(rng.uniform(0.45, 0.7)),
        breast=float(rng.uniform(0.7, 1.3)) if sex == "F" else 0.0, arms_out=bool(rng.random() < 0.5),
        dome_r=float(rng.uniform(5.0, 7.0)), dome_gap=float(rng.uniform(0.8, 2.2)),
        bubble=float(rng.uniform(0.55, 1.0)) if rng.random() < 0.75 else 0.0,
        kyphosis=float(rng.uniform(0.3, 1.4)), tree_seed=int(rng.integers(2**31)),
    )


def sample_pose(rng: np.random.Generator, patient: Patient, image_size: int) -> Pose:
    del image_size
    return Pose(
        inspiration=float(rng.normal(0.0, 0.8)),
        yaw={"PA": float(rng.normal(0, 0.025)), "LAT": float(rng.normal(0, 0.05))},
        center={"PA": (float(rng.normal(0, 0.8)), float(rng.uniform(3.5, 6.0))),
                "LAT": (float(rng.normal(-0.5, 0.8)), float(rng.uniform(3.0, 6.0)))},
        width_frac={"PA": float(rng.uniform(0.86, 0.98)), "LAT": float(rng.uniform(0.86, 1.0))},
        fov_h=float((patient.lung_h + 12.5) * rng.uniform(0.97, 1.06)),
        lung_gray={"PA": float(rng.uniform(0.17, 0.3)), "LAT": float(rng.uniform(0.22, 0.36))},
        dense_gray={"PA": float(rng.uniform(0.68, 0.78)), "LAT": float(rng.uniform(0.72, 0.82))},
        noise=float(rng.uniform(0.006, 0.016)), sharpen=float(rng.uniform(0.3, 0.8)),
        texture=float(rng.uniform(0.6, 1.2)),
    )


@dataclass
class Anatomy:
    """Named solids of one study's chest; findings edit these before :func:`.scene.assemble`."""

    patient: Patient
    pose: Pose
    torso: Quadric
    body_parts: dict  # view name ("" = both) -> tuple of solids whose union is the body
    breasts: tuple
    cage: Quadric
    lung: dict  # side -> ellipsoid bounding the lung
    midline: dict  # side -> half-space keeping the two lungs apart
    floor: HalfSpace
    heart: Quadric
    mediastinum: tuple
    dome: dict  # side -> solid below the hemidiaphragm
    spine_column: Quadric
    oblique: dict  # side -> half-space of the upper (and middle) lobe, in front of the oblique fissure
    minor_z: float  # horizontal fissure height (right)
    hilum: dict  # side -> hilum point
    carina: tuple
    gas: tuple  # (solid, containing dome) of bowel and gastric gas
    extra_cutters: dict = field(default_factory=lambda: {"R": (), "L": ()})

    def cutters(self, side: str) -> tuple:
        """Soft-tissue solids that the lung on ``side`` cannot occupy (those wholly across the midline left out)."""
        med = tuple(m for m in self.mediastinum
                    if (m.c[0] - m.semi_width_x < 0 if side == "R" else m.c[0] + m.semi_width_x > 0))
        return (self.heart, *med, self.dome[side], self.spine_column, *self.extra_cutters[side])

    def cavity(self, side: str, *inc, any=(), exc=()) -> Region:
        """The aerated lung on ``side`` (optionally cut further)."""
        return Region((self.lung[side], self.cage, self.floor, self.midline[side], *inc), tuple(any),
                      self.cutters(side) + tuple(exc))

    def lobe(self, side: str, name: str) -> tuple:
        """Half-spaces selecting a lobe: "upper", "middle" (right), "lingula" (left), "lower"."""
        front = self.oblique[side]
        back = HalfSpace(tuple(-v for v in front.n), -front.d)
        if name == "lower":
            return (back,)
        if side == "R":
            minor = above(self.minor_z) if name == "upper" else HalfSpace((0.0, 0.0, 1.0), self.minor_z)
            return (front, minor)
        if name == "lingula":
            return (front, HalfSpace((0.0, 0.0, 1.0), self.hilum["L"][2] - 1.5))
        return (front,)

    @property
    def inner_width(self) -> float:
        """Maximal inner thoracic width on PA, cm (the denominator of the cardiothoracic ratio)."""
        return sum(min(self.cage.semi_width_x, abs(self.lung[s].c[0]) + self.lung[s].semi_width_x) for s in SIDES)

    @property
    def ctr(self) -> float:
        return 2 * self.heart.semi_width_x / self.inner_width

    def with_heart_ctr(self, ctr: float) -> Quadric:
        """The heart enlarged (or shrunk) about its right-inferior border to reach a cardiothoracic ratio."""
        anchor = np.array(self.heart.c) + np.array([-0.6 * self.heart.semi_width_x, 0.0, -3.0])
        heart = self.heart
        for _ in range(4):
            k = ctr / (2 * heart.semi_width_x / self.inner_width)
            heart = heart.scaled(anchor, (k, 1 + 0.8 * (k - 1), 1 + 0.45 * (k - 1)))
        return heart


def build(patient: Patient, pose: Pose) -> Anatomy:
    p = patient
    s = p.scale
    cx, cy = p.cage_x, p.cage_y
    wx, wy = cx + p.wall, cy + p.wall * 0.6
    top = p.lung_h
    sh = top + 0.5  # shoulder level
    torso = cylinder_z((0, 0), (wx, wy), -60, sh)
    shoulders = tuple(ellipsoid((SIGN[d] * (wx - 0.5), -1.0, sh - 2.5), (7.5, 6.5, 5.0)) for d in SIDES)
    neck = cylinder_z((0, -0.8), (5.4 * s, 5.8 * s), sh - 4, 80)
    cap = ellipsoid((0, -0.5, sh), (wx * 0.75, wy * 0.9, 3.0))
    arm_x = wx + (7.5 if p.arms_out else 3.8)
    arms_pa = tuple(cylinder_z((SIGN[d] * arm_x, -1.5), (4.0, 4.3), -40, sh - 2) for d in SIDES)
    arms_lat = tuple(ellipsoid((SIGN[d] * 6.5, 11.0, sh + 22), (3.2, 3.4, 14.0), rotation(roll=-0.6)) for d in SIDES)
    shoulders_lat = tuple(ellipsoid((SIGN[d] * (wx - 2.5), -0.5, sh + 1.5), (5.5, 6.0, 7.0)) for d in SIDES)
    body_parts = {"PA": (torso, cap, neck, *shoulders, *arms_pa), "LAT": (torso, cap, neck, *shoulders_lat, *arms_lat)}
    breasts = ()
    if p.breast:
        b = p.breast
        breasts = tuple(ellipsoid((SIGN[d] * 9.0 * s, wy - 1.2, 2.5), (6.0 * b, 3.4 * b, 5.5 * b)) for d in SIDES)

    cage = cylinder_z((0, -0.3), (cx, cy), -30, top + 5)
    lung = {d: ellipsoid((SIGN[d] * (cx / 2 + (0.4 if d == "R" else 0.9)), -0.6, -3.0),
                         (cx / 2 + (0.9 if d == "R" else 0.5), cy + 0.6, top + 3.0)) for d in SIDES}
    midline = {"R": HalfSpace((1.0, 0.0, 0.0), -0.05), "L": HalfSpace((-1.0, 0.0, 0.0), -0.05)}
    floor = above(-5.5 * s)

    dr = p.dome_r + pose.inspiration
    dl = dr - p.dome_gap
    # domes: apex anterior-medial, lateral costophrenic angles near z = 0, posterior recesses ~3–4 cm lower
    dome = {d: ellipsoid((SIGN[d] * 0.35 * cx, 0.22 * cy, apex - hz), (0.78 * cx, 1.2 * cy, hz))
            for d, apex, hz in (("R", dr, 14.0), ("L", dl, 13.0))}

    heart_rot = rotation(yaw=p.heart_yaw, pitch=p.heart_tilt)
    heart = ellipsoid((1.3 * s, 3.2 * s, dl + 3.0), (7.6 * s, 5.9 * s, 4.7 * s), heart_rot)
    zk = top - 6.5  # aortic knob
    mediastinum = (
        cylinder_z((0.3, 0.4), (2.6 * s, 4.3 * s), dl + 4.0, 80),  # great vessels, trachea, oesophagus, thymus
        ellipsoid((-1.8 * s, 1.4, zk - 4.5), (1.8 * s, 1.9, 4.0)),  # ascending aorta / SVC: right upper border
        ellipsoid((2.3 * s, -0.9, zk), (1.9 * s, 3.3, 1.9)),  # aortic arch: the knob
        cylinder_z((2.0 * s, -4.2 * s), (1.25 * s, 1.25 * s), dl - 2.0, zk),  # descending aorta
        ellipsoid((2.9 * s, 1.3, zk - 5.3), (1.7 * s, 2.1, 1.8)),  # main pulmonary artery
    )
    spine_column = cylinder_z((0, -7.4 * s), (2.7 * s, 3.6 * s), -30, 80)
    hilum = {"R": (-4.3 * s, -0.6, top - 12.0), "L": (4.4 * s, -0.9, top - 11.0)}
    oblique = {d: plane((0.0, 15.0, 14.0), (0.0, -8.0, top - 7.5 + (1.0 if d == "L" else 0.0)))
               for d in SIDES}
    oblique = {d: HalfSpace(tuple(-v for v in h.n), -h.d) for d, h in oblique.items()}  # keep the anterior side
    gas = []
    if p.bubble:
        b = p.bubble
        gas.append((ellipsoid((7.0 * s, 1.5, dl - 2.8 * b), (3.0 * b, 2.6 * b, 1.8 * b)), dome["L"]))
    anat = Anatomy(patient=p, pose=pose, torso=torso, body_parts=body_parts, breasts=breasts, cage=cage, lung=lung,
                   midline=midline, floor=floor, heart=heart, mediastinum=mediastinum, dome=dome,
                   spine_column=spine_column, oblique=oblique, minor_z=hilum["R"][2] + 0.3, hilum=hilum,
                   carina=(0.3, 0.0, top - 8.5), gas=tuple(gas))
    anat.heart = anat.with_heart_ctr(p.ctr)
    return anat


def dome_height(anat: Anatomy, side: str, x: float, y: float) -> float:
    """Height of the hemidiaphragm surface above the point (x, y), cm."""
    d = anat.dome[side]
    Q = np.asarray(d.q).reshape(3, 3)
    c = np.asarray(d.c)
    w = np.array([x, y, 0.0]) - c
    a = Q[2, 2]
    b = Q[2, 0] * w[0] + Q[2, 1] * w[1]
    cc = w[0] * (Q[0, 0] * w[0] + 2 * Q[0, 1] * w[1]) + Q[1, 1] * w[1] ** 2 - 1
    disc = b * b - a * cc
    return float(c[2] + (-b + math.sqrt(max(disc, 0.0))) / a)


def recess_floor(anat: Anatomy, side: str) -> float:
    """Lowest point of the pleural space on ``side`` (the posterior costophrenic recess), cm."""
    lung, cx, cy = anat.lung[side], anat.patient.cage_x, anat.patient.cage_y
    x, y = np.meshgrid(np.linspace(-cx, cx, 25), np.linspace(-cy, cy, 25))
    inside = ((x / cx) ** 2 + (y / cy) ** 2 < 0.97) & (np.sign(x) == SIGN[side])
    inside &= ((x - lung.c[0]) ** 2 / lung.cov[0] + (y - lung.c[1]) ** 2 / lung.cov[4]) < 1
    pts = np.array([(a, b, max(dome_height(anat, side, a, b), -anat.floor.d) + 0.3)
                    for a, b in zip(x[inside], y[inside])])
    pts = pts[anat.cavity(side).contains(pts)]  # where the pleural space really reaches down (not behind the spine)
    return float(pts[:, 2].min() - 0.3) if len(pts) else 0.0
