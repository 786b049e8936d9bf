"""Scoring report concept graphs against the phantom's truth and IU X-Ray MeSH terms
(cxrvlp.evaluation.concept_graphs)."""
from __future__ import annotations

from collections import Counter

import pytest

from cxrvlp.data.adapters import load_studies
from cxrvlp.evaluation import concept_graphs as cg
from cxrvlp.text.concept_graph import extract_graph

SPLITS = ("train", "validate", "test")


def test_node_containment_and_sides():
    assert cg.node_within("left lower zone", "left lung") and cg.node_within("right hilum", "right lung")
    assert cg.node_within("heart", "heart") and not cg.node_within("left lung", "left lower zone")
    assert not cg.node_within("right lower zone", "left lung") and not cg.node_within("left hemidiaphragm",
                                                                                       "left lung")
    assert [cg.node_side(n) for n in ("right mid zone", "left costophrenic angle", "heart")] == ["right", "left",
                                                                                                 "heart"]


def test_match_counts_predictions_within_references():
    pred = {("effusion", "left costophrenic angle"), ("effusion", "right lung")}
    ref = {("effusion", "left lung")}
    within = lambda p, r: p[0] == r[0] and cg.node_within(p[1], r[1])  # noqa: E731
    assert cg.match(pred, ref, within) == (1, 2, 1, 1)
    prf = cg.PRF()
    prf.add(1, 2, 1, 1)
    assert prf.as_dict()["precision"] == 0.5 and prf.as_dict()["recall"] == 1.0 and prf.as_dict()["f1"] == 0.6667


def _finding(name, side="", **params):
    return {"name": name, "side": side, "views": {"d": {"visible": True}}, **params}


def test_phantom_reference_places_every_finding():
    gt = {"findings": [
        _finding("pleural_effusion", "bilateral"), _finding("pneumothorax", "left"), _finding("cardiomegaly"),
        _finding("consolidation", "right", lobe="middle"), _finding("nodule", "left", zone="upper"),
        _finding("mass", "right", zone="mid", hilar=True),
        _finding("atelectasis", "bilateral", kind="plate", plates=[["R"], ["L"]]),
        _finding("edema", "bilateral"), _finding("retrocardiac_opacity", "left"), _finding("support_devices")]}
    ref = cg.phantom_reference(gt)
    assert ref.concepts == {"pleural_effusion", "pneumothorax", "cardiomegaly", "consolidation", "nodule", "mass",
                            "atelectasis", "edema", "retrocardiac_opacity"}
    assert ref.located_at == {
        ("pleural_effusion", "left lung"), ("pleural_effusion", "right lung"), ("pneumothorax", "left lung"),
        ("cardiomegaly", "heart"), ("consolidation", "right mid zone"), ("nodule", "left upper zone"),
        ("mass", "right hilum"), ("atelectasis", "left lower zone"), ("atelectasis", "right lower zone"),
        ("edema", "left lung"), ("edema", "right lung"), ("retrocardiac_opacity", "left lower zone")}
    hidden = {"findings": [{**_finding("nodule", "left", zone="lower"), "views": {"d": {"visible": False}}}]}
    assert cg.phantom_reference(hidden).concepts == {"nodule"}
    assert cg.phantom_reference(hidden, visible_only=True).concepts == set()


def test_mesh_reference_sites_and_unmapped_headings():
    unmapped = Counter()
    ref = cg.mesh_reference(["Opacity/lung/base/left/mild", "Pleural Effusion/bilateral/small",
                             "Pulmonary Atelectasis/base", "Cardiomegaly/mild", "Calcified Granuloma/lung/lingula",
                             "Diaphragm/right/elevated", "Nodule/lung/right", "Costophrenic Angle/left/blunted",
                             "Lung/hyperdistention", "Atherosclerosis", "Surgical Instruments", "Aorta/tortuous",
                             "Aorta"], unmapped)
    assert ref.concepts == {"opacity", "effusion", "atelectasis", "cardiomegaly", "granuloma", "elevation", "nodule",
                            "blunting", "hyperinflation", "tortuosity"}
    assert ref.located_at == {
        ("opacity", "left lower zone"), ("effusion", "left lung"), ("effusion", "right lung"),
        ("cardiomegaly", "heart"), ("granuloma", "left mid zone"), ("elevation", "right hemidiaphragm"),
        ("nodule", "right lung"), ("blunting", "left costophrenic angle")}  # "base" without a side: no place
    assert unmapped == Counter({"Atherosclerosis": 1, "Surgical Instruments": 1, "Aorta": 1})
    assert cg.mesh_reference(["No Indexing"]) is None
    assert cg.mesh_reference(["normal"]) == cg.Reference()


def _score(text, ref, table):
    return cg.score_study(cg.predicted_entities(extract_graph(text)), ref, table)


def test_generic_terms_and_incomplete_references():
    ref = cg.Reference({"consolidation"}, {("consolidation", "right upper zone")})
    s = _score("Airspace opacity in the right upper lobe. Patchy opacity at the right base.", ref, cg.PHANTOM_TERMS)
    assert s.concepts_pred == {"consolidation"} and s.concepts_wrong == set()  # the generic opacity: neither
    assert s.triples_pred == {("consolidation", "right upper zone")}
    s = _score("Right pneumothorax. Displaced rib fracture.", cg.Reference({"pneumothorax"}), cg.PHANTOM_TERMS)
    assert s.concepts_wrong == {"fracture"}  # the phantom's truth is complete
    s = _score("Right pneumothorax. Displaced rib fracture.", cg.Reference({"pneumothorax"}), cg.IU_TERMS)
    assert s.concepts_wrong == {"fracture"}  # in the table, absent from MeSH: wrong
    s = _score("Right pneumothorax. Lesion in the left lung.", cg.Reference({"pneumothorax"}), cg.IU_TERMS)
    assert s.concepts_wrong == set() and s.unscored_terms == ["lesion"]  # outside MeSH's vocabulary: unscored
    s = _score("Calcified granuloma in the right upper lobe.", cg.Reference({"granuloma"}), cg.IU_TERMS)
    assert s.concepts_pred == {"granuloma"} and s.concepts_wrong == set()  # MeSH files it as Calcified Granuloma
    s = _score("Opacity at the left base.", cg.Reference({"opacity"}), cg.IU_TERMS)
    assert s.triples_pred == set()  # the reference gives no place for it: the place is not scored


def test_conditional_terms():
    ref = cg.Reference({"cardiomegaly"}, {("cardiomegaly", "heart")})
    assert _score("The heart is moderately enlarged.", ref, cg.PHANTOM_TERMS).concepts_pred == {"cardiomegaly"}
    s = _score("Retrocardiac opacity.", cg.Reference({"retrocardiac_opacity"},
                                                     {("retrocardiac_opacity", "left lower zone")}), cg.PHANTOM_TERMS)
    assert s.concepts_pred == {"retrocardiac_opacity"}
    assert s.triples_pred == {("retrocardiac_opacity", "left lower zone")}


def test_phantom_scores(tiny_phantom):
    studies, _ = load_studies("phantom", str(tiny_phantom), SPLITS)
    result = cg.evaluate(cg.phantom_cases(studies, visible_only=True), cg.PHANTOM_TERMS)
    assert result["reports"] == len(studies) == 48
    pos = result["positive"]
    assert pos["pathology_entities"]["precision"] >= 0.9 and pos["pathology_entities"]["recall"] >= 0.8
    assert pos["located_at"]["f1"] >= 0.75 and pos["anatomy_entities"]["f1"] >= 0.75
    with_uncertain = result["with_uncertain"]["pathology_entities"]
    assert with_uncertain["recall"] >= pos["pathology_entities"]["recall"]
    assert set(result["errors"]) == {"pathology_missed", "pathology_wrong", "located_at_wrong", "located_at_missed"}


def test_iu_xray_scores(shared_data):
    studies = shared_data / "iu_xray_reports" / "studies.jsonl"
    if not studies.is_file():
        pytest.skip(f"{studies} is absent")
    result = cg.evaluate_iu(studies)
    assert result["reports"] + sum(result["skipped"].values()) == 3851
    assert result["skipped"] == {"not indexed": 92, "empty text": 25}
    assert result["unmapped_mesh_terms"] == sum(result["unmapped_mesh_headings"].values()) > 0
    pos = result["positive"]
    assert pos["pathology_entities"]["f1"] >= 0.85 and pos["located_at"]["f1"] >= 0.8
    assert pos["located_at_side"]["precision"] >= 0.95
