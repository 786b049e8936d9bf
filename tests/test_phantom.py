"""Phantom generator: determinism, MIMIC-CXR-JPG layout, honest finding masks, and reports that match the truth."""
from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrvlp.phantom import FINDINGS, StudySpec, anatomy, generate, render_study, render_with_footprints
from cxrvlp.phantom import findings as fnd
from cxrvlp.phantom.reports import CHEXPERT, SUPPORT, write_report
from cxrvlp.phantom.writer import CHEXPERT_COLUMNS, METADATA_COLUMNS, SPLIT_COLUMNS

SMALL = dict(n_studies=8, image_size=128, progress=False)


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("phantom") / "a", seed=7, **SMALL)


def _csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def test_api_contract():
    assert FINDINGS == ("cardiomegaly", "pleural_effusion", "pneumothorax", "consolidation", "nodule", "mass",
                        "atelectasis", "edema", "retrocardiac_opacity", "support_devices")


def test_same_seed_same_bytes_any_workers(dataset, tmp_path):
    again = generate(tmp_path / "b", seed=7, **SMALL)
    parallel = generate(tmp_path / "c", seed=7, workers=2, **SMALL)
    other = generate(tmp_path / "d", seed=8, **SMALL)
    ref = _digest(dataset)
    assert _digest(again) == ref
    assert _digest(parallel) == ref
    assert _digest(other) != ref
    # regenerating in place is allowed for the same settings, refused for different ones
    generate(tmp_path / "b", seed=7, **SMALL)
    assert _digest(tmp_path / "b") == ref
    with pytest.raises(FileExistsError, match="different phantom run"):
        generate(tmp_path / "b", seed=9, **SMALL)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_studies=0), "n_studies"), (dict(n_studies=3, lateral_fraction=1.5), "lateral_fraction"),
    (dict(n_studies=3, normal_fraction=-0.1), "normal_fraction"), (dict(n_studies=3, workers=0), "workers"),
    (dict(n_studies=3, image_size=8), "image_size")])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "x", progress=False, **kwargs)


def test_refuses_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate(tmp_path, 2, progress=False)


def test_layout(dataset):
    cols, meta = _csv(dataset / "mimic-cxr-2.0.0-metadata.csv")
    assert tuple(cols) == METADATA_COLUMNS
    cols, split = _csv(dataset / "mimic-cxr-2.0.0-split.csv")
    assert tuple(cols) == SPLIT_COLUMNS == ("dicom_id", "study_id", "subject_id", "split")
    cols, chex = _csv(dataset / "mimic-cxr-2.0.0-chexpert.csv")
    assert tuple(cols) == CHEXPERT_COLUMNS and len(chex) == SMALL["n_studies"]
    assert {r["ViewPosition"] for r in meta} <= {"PA", "AP", "LATERAL", "LL"}
    truth = [json.loads(line) for line in (dataset / "phantom_ground_truth.jsonl").read_text().splitlines()]
    assert len(truth) == SMALL["n_studies"]
    for r in meta:
        sid, st = r["subject_id"], r["study_id"]
        assert re.fullmatch(r"1\d{7}", sid) and re.fullmatch(r"5\d{7}", st)
        assert re.fullmatch(r"([0-9a-f]{8}-){4}[0-9a-f]{8}", r["dicom_id"])
        jpg = dataset / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{st}" / f"{r['dicom_id']}.jpg"
        with Image.open(jpg) as im:
            assert im.mode == "L" and im.size == (int(r["Columns"]), int(r["Rows"]))
            assert int(r["Rows"]) == SMALL["image_size"] and 0.85 <= im.size[0] / im.size[1] <= 1.0
    for rec in truth:
        sid, st = str(rec["subject_id"]), str(rec["study_id"])
        report = (dataset / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{st}.txt").read_text()
        assert "FINAL REPORT" in report and "IMPRESSION:" in report and "EXAMINATION:" in report
        assert set(rec["labels"]) == set(FINDINGS)
        assert {f["name"] for f in rec["findings"]} == {k for k, v in rec["labels"].items() if v}
        for f in rec["findings"]:
            assert set(f["views"]) == set(rec["images"])
            for did, v in f["views"].items():
                assert (v["mask"] is not None) == v["visible"] == (v["box"] is not None)
                if v["mask"]:
                    m = np.asarray(Image.open(dataset / v["mask"]))
                    assert set(np.unique(m)) <= {0, 255} and m.any()
                    assert m.shape[0] == SMALL["image_size"]
    split_of = {}
    for r in split:
        assert r["split"] in ("train", "validate", "test")
        assert split_of.setdefault(r["subject_id"], r["split"]) == r["split"], "a patient crosses splits"
    manifest = json.loads((dataset / "phantom_manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] == 7 and set(manifest["prevalence"]) == set(FINDINGS)


def _study_with(name: str, size: int = 192) -> tuple[StudySpec, dict]:
    """A study holding only ``name``, placed where at least one view shows it."""
    for k in range(8):
        rng = np.random.default_rng(1000 + 17 * k + FINDINGS.index(name))
        patient = anatomy.sample_patient(rng)
        pose = anatomy.sample_pose(rng, patient, size)
        f = fnd.sample(name, rng, anatomy.build(patient, pose))
        spec = StudySpec(patient, pose, [f], ("PA", "LAT"), size, 4242 + k)
        _, feet = render_with_footprints(spec)
        if any(v.visible for v in feet[name].values()):
            return spec, feet[name]
    raise AssertionError(f"no visible placement of {name}")


@pytest.mark.parametrize("name", FINDINGS)
def test_finding_changes_pixels_only_inside_its_mask(name):
    spec, feet = _study_with(name)
    with_ = render_study(spec)
    without = render_study(spec, exclude=(name,))
    clean = render_study(spec, noise=False)
    for view in spec.views:
        mask = feet[view].mask
        diff = np.abs(with_[view].astype(int) - without[view].astype(int))
        if not mask.any():
            assert diff.max() <= 2
            continue
        noise = float(np.std(with_[view].astype(float) - clean[view])[()])
        assert diff[~mask].max() <= 2, f"{name} {view}: pixels outside the mask changed"
        if feet[view].visible:
            assert diff[mask].mean() > max(2.0, noise), f"{name} {view}: change inside the mask too small"


def test_small_posterior_effusion_shows_on_lateral_only():
    rng = np.random.default_rng(2)
    patient = anatomy.sample_patient(rng)
    pose = anatomy.sample_pose(rng, patient, 192)
    f = fnd.Finding("pleural_effusion", "left", "small", {"levels": [["L", 1.8, 0.0]]})
    spec = StudySpec(patient, pose, [f], ("PA", "LAT"), 192, 11)
    _, feet = render_with_footprints(spec)
    assert not feet["pleural_effusion"]["PA"].visible
    assert feet["pleural_effusion"]["LAT"].visible


MENTION = {"cardiomegaly": r"cardiomegaly|heart is \w+ enlarged|"
                           r"heart size is (\w+ly )?(top normal to mildly )?enlarged|enlargement of the cardiac",
           "pleural_effusion": r"effusion|pleural fluid", "pneumothorax": r"pneumothorax|PTX",
           "consolidation": r"consolidation|opacity|infiltrate", "nodule": r"nodul|granuloma", "mass": r"\bmass",
           "atelectasis": r"atelectasis|collapse", "edema": r"edema|congestion",
           "retrocardiac_opacity": r"retrocardiac|behind the heart",
           "support_devices": r"\btube\b|catheter|\bline\b|pacemaker|pacing|sternotomy|PICC"}
NEGATION = re.compile(r"\b(no|without|negative for|resolution)\b", re.I)


def _random_reports(n: int):
    for k in range(n):
        rng = np.random.default_rng(k)
        patient = anatomy.sample_patient(rng)
        anat = anatomy.build(patient, anatomy.sample_pose(rng, patient, 128))
        found = [fnd.sample(name, rng, anat) for name in fnd.choose(rng, rng.random() < 0.3)]
        lateral = rng.random() < 0.8
        views = ["PA", "LATERAL"] if lateral else ["PA"]
        visible = {f.name: {"PA": bool(rng.random() < 0.8), "LAT": lateral and bool(rng.random() < 0.9)}
                   for f in found}
        consp = {f.name: float(rng.uniform(3, 60)) for f in found}
        prior = [fnd.sample(name, rng, anat) for name in fnd.choose(rng, False)] if rng.random() < 0.3 else None
        text, labels = write_report(rng, {"findings": found, "visible": visible, "conspicuity": consp,
                                          "views": views, "prior": prior, "sex": patient.sex})
        yield found, visible, text, labels


def test_reports_agree_with_truth():
    for found, visible, text, labels in _random_reports(150):
        truth = {f.name for f in found}
        body = " ".join(text.split("FINDINGS:" if "FINDINGS:" in text else "IMPRESSION:")[1].split())
        sentences = re.split(r"(?<=\.)\s+", body)
        assert not [s for s in sentences if s.count("lateral view") > 1], text  # said once is enough
        for f in found:
            if any(visible[f.name].values()):
                assert re.search(MENTION[f.name], body, re.I), f"{f.name} not mentioned:\n{text}"
        for name in set(FINDINGS) - truth - {"consolidation"}:  # "opacity" also names nodules and masses
            for s in sentences:
                about_present = any(re.search(MENTION[t], s, re.I) for t in truth)
                if re.search(MENTION[name], s, re.I) and not about_present:
                    assert NEGATION.search(s), f"absent {name} mentioned without negation: {s!r}\n{text}"
        assert set(labels) == set(CHEXPERT)
        for col, v in labels.items():
            if v == 1.0 and col not in ("No Finding",):
                assert SUPPORT[col] & truth, f"{col} positive without a true finding:\n{text}"
            if v == 0.0:
                assert not SUPPORT[col] & truth, f"{col} negated but present:\n{text}"
        if labels["No Finding"] == 1.0:
            assert not any(labels[c] in (1.0, -1.0) for c in CHEXPERT if c not in ("No Finding", "Support Devices"))


def test_chexpert_file_matches_truth(dataset):
    _, chex = _csv(dataset / "mimic-cxr-2.0.0-chexpert.csv")
    truth = {json.loads(line)["study_id"]: json.loads(line)["labels"]
             for line in (dataset / "phantom_ground_truth.jsonl").read_text().splitlines()}
    for row in chex:
        present = {k for k, v in truth[int(row["study_id"])].items() if v}
        for col in CHEXPERT:
            assert row[col] in ("", "1.0", "0.0", "-1.0")
            if row[col] == "1.0" and col != "No Finding":
                assert SUPPORT[col] & present
            if row[col] == "0.0":
                assert not SUPPORT[col] & present
