"""Per-view masks of the anatomy the phantom models, so that anatomy grounding can be scored like finding grounding.

A pixel belongs to a structure when its ray crosses at least :data:`MIN_PATH_CM` of it (the rule of the cardiomegaly
mask's heart silhouette), from the exact path lengths of :mod:`.primitives` on the renderer's coarse grid (every
``COARSE`` pixels), brought to image size by repetition. The structures, in the chest as imaged (after the findings'
anatomy changes: an enlarged heart, a dome raised by volume loss):

- ``right lung``, ``left lung``: the lung cavity of each side (lung envelope ∩ thoracic cage, minus heart,
  mediastinum, dome and spine), the space the aerated lung fills in a normal chest. Findings inside it (fluid,
  air, consolidation) do not carve it;
- ``{side} upper zone``, ``{side} mid zone``, ``{side} lower zone``: the lung cavity cut by height above the
  hemidiaphragm at the same (x, y), as a share of :func:`.findings.zone_scale`, at :data:`.findings.ZONE_LIMITS`
  (lower ≤ 0.3 < mid ≤ 0.62 < upper): the definition of the nodule and mass ``zone`` in the ground truth, with the
  domes of the patient's normal chest (the ones those zones were drawn with). Where a dome's ellipsoid dips below
  the lung's floor (a thin posterior-lateral sliver, under a centimetre), mid and upper also need the height above
  the floor, and the sliver has no zone. Zones are 3-D, so on an image the zones of one side may overlap (the
  posterior recess lies lower than the dome's apex);
- ``right hemidiaphragm``, ``left hemidiaphragm``: the dome under each lung (dome solid ∩ cage, above the lung's
  floor, on its side of the midline);
- ``heart``: the heart solid.

The names are the report concept graph's anatomy nodes (:data:`cxrvlp.text.concept_graph.ANATOMY_NODES`).
Rendering is untouched: masks need no random number and no image pixel. Lobes (:meth:`.anatomy.Anatomy.lobe`, the
fissure half-spaces) or the mediastinum would be one more entry each; each structure costs a file per view, and
creating a file is most of the cost (docs/phantom.md, Speed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import findings as fnd
from .anatomy import SIDES, Anatomy, build
from .primitives import Region, above, split_lengths
from .render import COARSE, make_views

MIN_PATH_CM = 1.0
SIDE_NAME = {"R": "right", "L": "left"}
STRUCTURES: tuple[str, ...] = (
    *(f"{SIDE_NAME[s]} lung" for s in SIDES),
    *(f"{SIDE_NAME[s]} {z} zone" for s in SIDES for z in ("upper", "mid", "lower")),
    *(f"{SIDE_NAME[s]} hemidiaphragm" for s in SIDES), "heart")


@dataclass
class AnatomyView:
    mask: np.ndarray  # bool, image size
    box: list | None  # [x0, y0, x1, y1], exclusive end; None when the structure is outside the field


def imaged_anatomy(spec, memo: dict | None = None):
    """``(normal, imaged, views)``: the study's chest before and after its findings' anatomy changes, and its
    views (the same objects :func:`.studies.render_study` projects; ``memo`` as there)."""
    memo = {} if memo is None else memo
    if "anatomy" not in memo:
        memo["anatomy"] = build(spec.patient, spec.pose)
    normal = memo["anatomy"]
    views = make_views(normal, spec.views, spec.image_size)
    imaged = normal
    for f in spec.findings:
        imaged = fnd.modify(imaged, f)
    return normal, imaged, views


def lung_parts(normal: Anatomy, anat: Anatomy, sd: str) -> dict[str, tuple[tuple, tuple]]:
    """The lung and its zones on side ``sd`` ("R", "L") as ``name: (inc, exc)`` cuts of ``anat.cavity(sd)``
    (:func:`.primitives.split_lengths`); zone limits from the ``normal`` chest's dome (module docstring)."""
    side, scale = SIDE_NAME[sd], fnd.zone_scale(normal)
    lo, hi = (normal.dome[sd].translated((0.0, 0.0, share * scale)) for share in fnd.ZONE_LIMITS)
    floor = anat.floor.d / anat.floor.n[2]  # z ≥ floor: the lung's lowest level
    return {f"{side} lung": ((), ()), f"{side} lower zone": ((lo,), ()),
            f"{side} mid zone": ((hi, above(floor + fnd.ZONE_LIMITS[0] * scale)), (lo,)),
            f"{side} upper zone": ((above(floor + fnd.ZONE_LIMITS[1] * scale),), (hi,))}


def anatomy_footprints(spec, memo: dict | None = None) -> dict[str, dict[str, AnatomyView]]:
    """Per structure (:data:`STRUCTURES`) and view ("PA", "LAT"), its :class:`AnatomyView`."""
    normal, anat, views = imaged_anatomy(spec, memo)
    lengths: dict[str, dict[str, tuple | None]] = {name: {} for name in STRUCTURES}
    for view_name, view in views.items():
        cv = view.coarse(COARSE)
        for sd in SIDES:
            side = SIDE_NAME[sd]
            for name, item in split_lengths(anat.cavity(sd), lung_parts(normal, anat, sd), cv).items():
                lengths[name][view_name] = item
            dome = Region((anat.dome[sd], anat.cage, anat.floor, anat.midline[sd]))
            lengths[f"{side} hemidiaphragm"][view_name] = dome.length(cv)
        lengths["heart"][view_name] = Region((anat.heart,)).length(cv)
    out: dict[str, dict[str, AnatomyView]] = {}
    for name in STRUCTURES:
        out[name] = {}
        for view_name, view in views.items():
            out[name][view_name] = _footprint(lengths[name][view_name], view)
    return out


def _footprint(item, view) -> AnatomyView:
    hc, wc = -(-view.h // COARSE), -(-view.w // COARSE)
    coarse = np.zeros((hc, wc), bool)
    if item is not None:
        (r0, r1, c0, c1), arr = item
        coarse[r0:r1, c0:c1] = arr >= MIN_PATH_CM
    mask = np.repeat(np.repeat(coarse, COARSE, 0), COARSE, 1)[:view.h, :view.w]
    box = None
    if mask.any():
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    return AnatomyView(mask, box)
