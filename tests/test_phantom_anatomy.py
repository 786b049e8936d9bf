"""Phantom anatomy ground truth: per-view masks of the lungs, lung zones, hemidiaphragms and heart, written beside
the finding masks without changing one image or report byte, and read into ``ImageRecord.masks["anatomy:…"]``."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import scipy
from PIL import Image

from cxrvlp.data.adapters import load_studies
from cxrvlp.data.masks import read_mask
from cxrvlp.data.phantom import ANATOMY_PREFIX
from cxrvlp.evaluation.data import mask_classes
from cxrvlp.phantom import GENERATOR_VERSION, anatomy, cohort, generate
from cxrvlp.phantom import findings as fnd
from cxrvlp.phantom.anatomy_masks import STRUCTURES, anatomy_footprints, imaged_anatomy, lung_parts
from cxrvlp.phantom.primitives import Region, split_lengths
from cxrvlp.phantom.render import COARSE
from cxrvlp.phantom.studies import StudySpec
from cxrvlp.phantom.writer import png_1bit
from cxrvlp.text.concept_graph import ANATOMY_NODES

SPLITS = ("train", "validate", "test")
# What generator 1.1 (the last one without anatomy masks) wrote for generate(10 studies, seed 3, 64 px): every file
# but the manifest and the anatomy masks, and the ground truth without its "anatomy" entries. Image bytes depend on
# the JPEG encoder and the floating-point libraries, hence the versions it was pinned with.
PIN_1_1 = "5b06511e59059fd56e3c6b81e0a5e1a4491fd237554afde7df60193bdfe50b24"
PINNED_WITH = {"numpy": "2.4.6", "scipy": "1.17.1", "Pillow": "13.0.0"}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or "_anatomy_" in rel or rel in ("phantom_manifest.json", "phantom_ground_truth.jsonl"):
            continue
        h.update(rel.encode() + b"\0" + p.read_bytes())
    for line in (root / "phantom_ground_truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("anatomy", None)
        h.update(json.dumps(row, sort_keys=True).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("anatomy") / "p", 10, seed=3, image_size=64, progress=False)


def test_images_reports_and_finding_truth_are_those_of_generator_1_1(small):
    import PIL

    versions = {"numpy": np.__version__, "scipy": scipy.__version__, "Pillow": PIL.__version__}
    if versions != PINNED_WITH:
        pytest.skip(f"pin made with {PINNED_WITH}, running {versions} (the no-anatomy comparison below still runs)")
    assert GENERATOR_VERSION == "1.2"
    assert _digest(small) == PIN_1_1


def test_anatomy_masks_change_nothing_else(small, tmp_path, monkeypatch):
    """The same run with the anatomy step replaced by nothing writes the same bytes everywhere else."""
    monkeypatch.setattr(cohort, "anatomy_footprints", lambda spec, memo=None: {})
    bare = generate(tmp_path / "bare", 10, seed=3, image_size=64, progress=False)
    assert not list((bare / "masks").rglob("*_anatomy_*"))
    assert _digest(bare) == _digest(small)


def test_truth_files_and_adapter(small):
    truth = [json.loads(line) for line in (small / "phantom_ground_truth.jsonl").read_text().splitlines()]
    studies = {s.study_id: s for s in load_studies("phantom", str(small), SPLITS)[0]}
    assert set(STRUCTURES) <= set(ANATOMY_NODES)
    for row in truth:
        assert set(row["anatomy"]) == set(row["images"])
        study = studies[str(row["study_id"])]
        for img in study.frontal + study.lateral:
            entries = row["anatomy"][img.image_id]
            assert set(entries) == set(STRUCTURES)  # every structure is inside a 64 px field here
            for name, e in entries.items():
                assert e["mask"].endswith(f"_anatomy_{name.replace(' ', '_')}.png")
                with Image.open(small / e["mask"]) as im:
                    assert im.mode == "1" and im.size[1] == 64
                mask = read_mask(img.masks[ANATOMY_PREFIX + name])
                rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                assert e["box"] == [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
            finding_masks = {k for k in img.masks if not k.startswith(ANATOMY_PREFIX)}
            assert finding_masks <= set(row["labels"])  # names never collide
    assert not any(c.startswith(ANATOMY_PREFIX) for c in mask_classes(list(studies.values())))


def _specs(n_patients: int = 6, size: int = 96) -> list[StudySpec]:
    """The StudySpecs a small cohort renders (captured from the generator itself)."""
    specs = []
    for pp in cohort.plan(5, 12, 1.0, 0.3)[:n_patients]:
        rng = np.random.default_rng(np.random.SeedSequence([5, pp.index]))
        patient = anatomy.sample_patient(rng)
        for k, ps in enumerate(pp.studies):
            srng = np.random.default_rng(np.random.SeedSequence([5, pp.index, k + 1]))
            pose = anatomy.sample_pose(srng, patient, size)
            found = [] if ps.normal else cohort._findings(srng, anatomy.build(patient, pose), None)
            specs.append(StudySpec(patient, pose, found, ("PA", "LAT"), size, 1))
    return specs


def test_masks_where_the_anatomy_is():
    for spec in _specs():
        fp = anatomy_footprints(spec)
        pa = {name: fp[name]["PA"].mask for name in STRUCTURES}
        col = {name: np.flatnonzero(m.any(0)).mean() for name, m in pa.items()}
        row = {name: np.flatnonzero(m.any(1)).mean() for name, m in pa.items()}
        assert col["right lung"] < col["heart"] < col["left lung"]  # PA: the patient's right on the image's left
        for side in ("right", "left"):
            lung = pa[f"{side} lung"]
            zones = [pa[f"{side} {z} zone"] for z in ("upper", "mid", "lower")]
            assert row[f"{side} upper zone"] < row[f"{side} mid zone"] < row[f"{side} lower zone"]
            assert row[f"{side} lung"] < row[f"{side} hemidiaphragm"]
            for z in zones:  # a zone is a cut of the lung: its path is never longer
                assert not (z & ~lung).any()
            covered = np.logical_or.reduce(zones)
            assert covered[lung].mean() > 0.93  # all but rays that split their path between zones


def test_zone_cuts_agree_with_the_zone_of_nodules_and_masses():
    """Lung points fall in the cut that findings._zone names for them, except the thin sliver below the floor."""
    rng = np.random.default_rng(0)
    agree = total = 0
    for spec in _specs(3):
        normal, anat, _ = imaged_anatomy(spec)
        for sd in ("R", "L"):
            lung = anat.lung[sd]
            pts = np.asarray(lung.c) + (rng.random((3000, 3)) * 2 - 1) * np.sqrt(np.diag(np.reshape(lung.cov, (3, 3))))
            pts = pts[anat.cavity(sd).contains(pts)]
            cavity = anat.cavity(sd)
            for name, (inc, exc) in lung_parts(normal, anat, sd).items():
                if not name.endswith("zone"):
                    continue
                inside = Region(cavity.inc + tuple(inc), (), cavity.exc + tuple(exc)).contains(pts)
                truth = np.array([fnd._zone(normal, sd, p) == name.split()[1] for p in pts])
                agree += int((inside == truth).sum())
                total += len(pts)
    assert agree / total > 0.99


def test_split_lengths_equal_region_lengths():
    for spec in _specs(2):
        normal, anat, views = imaged_anatomy(spec)
        for view in views.values():
            cv = view.coarse(COARSE)
            for sd in ("R", "L"):
                parts = lung_parts(normal, anat, sd)
                got = split_lengths(anat.cavity(sd), parts, cv)
                for name, (inc, exc) in parts.items():
                    ref = anat.cavity(sd, *inc, exc=exc).length(cv)
                    a, b = np.zeros((cv.h, cv.w)), np.zeros((cv.h, cv.w))
                    for canvas, item in ((a, ref), (b, got[name])):
                        if item is not None:
                            (r0, r1, c0, c1), arr = item
                            canvas[r0:r1, c0:c1] = arr
                    assert a.max() > 1.0 and np.abs(a - b).max() < 1e-3, name


@pytest.mark.parametrize("shape", [(64, 57), (7, 9), (1, 1), (33, 16)])
def test_png_1bit_reads_back_in_pillow(shape):
    mask = np.random.default_rng(sum(shape)).random(shape) > 0.5
    with Image.open(io.BytesIO(png_1bit(mask))) as im:
        assert im.mode == "1" and im.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(im), mask)
