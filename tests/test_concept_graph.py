"""Report concept graphs (cxrvlp.text.concept_graph) on hand-written reports: exact entities and relations."""
from __future__ import annotations

import pytest

from cxrvlp.text.concept_graph import ANATOMY_NODES, ReportGraph, extract_graph


def entities(g: ReportGraph) -> list[tuple[str, str, str, str]]:
    """``(kind, name, status, surface text)`` of every entity, in graph order."""
    return [(e.kind, e.name, e.status, g.text[e.start:e.end]) for e in g.entities]


def relations(g: ReportGraph) -> set[tuple[str, str, str]]:
    return {(r.kind, g.entities[r.head].name, g.entities[r.tail].name) for r in g.relations}


def located(text: str, status: str | None = "positive") -> set[tuple[str, str]]:
    return extract_graph(text).triples("located_at", status)


def test_several_locations_in_one_report():
    g = extract_graph("Left lower lobe opacity and a small right effusion.")
    assert entities(g) == [("pathology", "opacity", "positive", "opacity"),
                           ("pathology", "effusion", "positive", "effusion"),
                           ("anatomy", "left lower zone", "", "Left lower lobe"),
                           ("anatomy", "right lung", "", "effusion"),  # implied by the side, on the term's span
                           ("modifier", "small", "", "small")]
    assert relations(g) == {("located_at", "opacity", "left lower zone"), ("located_at", "effusion", "right lung"),
                            ("modify", "small", "effusion")}
    assert g.pathologies() == {"opacity", "effusion"}
    assert g.anatomy() == {"left lower zone", "right lung"}


def test_negated_and_uncertain_findings():
    g = extract_graph("No pleural effusion or pneumothorax. Possible right upper lobe pneumonia.")
    assert entities(g) == [("pathology", "effusion", "negative", "effusion"),
                           ("pathology", "pneumothorax", "negative", "pneumothorax"),
                           ("pathology", "pneumonia", "uncertain", "pneumonia"),
                           ("anatomy", "left lung", "", "pleural"), ("anatomy", "right lung", "", "pleural"),
                           ("anatomy", "right upper zone", "", "right upper lobe")]
    assert relations(g) == {("located_at", "effusion", "left lung"), ("located_at", "effusion", "right lung"),
                            ("located_at", "pneumonia", "right upper zone")}
    assert g.pathologies() == set()  # positive ones only
    assert g.pathologies("negative") == {"effusion", "pneumothorax"}
    assert g.pathologies("uncertain") == {"pneumonia"}
    assert g.triples() == set() and g.triples(status="uncertain") == {("pneumonia", "right upper zone")}


def test_normal_report_has_anatomy_but_no_pathology_node():
    g = extract_graph("The lungs are clear. Heart size is normal. No acute cardiopulmonary process.")
    assert entities(g) == [("anatomy", "left lung", "", "lungs"), ("anatomy", "right lung", "", "lungs"),
                           ("anatomy", "heart", "", "Heart")]
    assert g.relations == [] and g.pathologies(None) == set()


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_report(text):
    g = extract_graph(text)
    assert g.entities == [] and g.relations == []


def test_bilateral_terms():
    g = extract_graph("Small bilateral pleural effusions. Bibasilar atelectasis.")
    assert entities(g) == [("pathology", "effusion", "positive", "effusions"),
                           ("pathology", "atelectasis", "positive", "atelectasis"),
                           ("anatomy", "left lung", "", "pleural"), ("anatomy", "right lung", "", "pleural"),
                           ("anatomy", "left lower zone", "", "Bibasilar"),
                           ("anatomy", "right lower zone", "", "Bibasilar"),
                           ("modifier", "small", "", "Small")]  # found before the anatomy term "pleural"
    assert relations(g) == {("located_at", "effusion", "left lung"), ("located_at", "effusion", "right lung"),
                            ("located_at", "atelectasis", "left lower zone"),
                            ("located_at", "atelectasis", "right lower zone"), ("modify", "small", "effusion")}


def test_suggestive_of_and_modify():
    g = extract_graph("Moderate right upper lobe consolidation, compatible with pneumonia.")
    assert entities(g) == [("pathology", "consolidation", "positive", "consolidation"),
                           ("pathology", "pneumonia", "positive", "pneumonia"),
                           ("anatomy", "right upper zone", "", "right upper lobe"),
                           ("modifier", "moderate", "", "Moderate")]
    assert relations(g) == {("located_at", "consolidation", "right upper zone"),
                            ("located_at", "pneumonia", "right upper zone"),  # takes the place of what suggests it
                            ("suggestive_of", "consolidation", "pneumonia"),
                            ("modify", "moderate", "consolidation")}


def test_cardiomegaly_is_at_the_heart_whatever_its_clause_says():
    g = extract_graph("Stable mild cardiomegaly without overt pulmonary edema.")
    assert relations(g) == {("located_at", "cardiomegaly", "heart"), ("located_at", "edema", "left lung"),
                            ("located_at", "edema", "right lung"), ("modify", "mild", "cardiomegaly")}
    assert g.pathologies() == {"cardiomegaly"} and g.pathologies("negative") == {"edema"}


# -- the rules one by one (each was a bug or a gap found on the phantom or IU X-Ray, docs/cga.md) ------------------
@pytest.mark.parametrize("text, expected", [
    # a segment cut at a comma: what is obscured is no location
    ("Patchy infiltrate in the right lower lobe, obscuring the right hemidiaphragm.",
     {("infiltrate", "right lower zone")}),
    ("Lobar consolidation in the right middle lobe, obscuring the right heart border.",
     {("consolidation", "right mid zone")}),
    # a list of places after a locative word, and anatomy shared by coordinated pathologies
    ("Opacities in the right upper lobe and left lower lobe.", {("opacity", "right upper zone"),
                                                                ("opacity", "left lower zone")}),
    ("Effusion and atelectasis at the left base.", {("effusion", "left lower zone"),
                                                    ("atelectasis", "left lower zone")}),
    ("Worsened patchy opacities and a left apex and right base.", {("opacity", "left upper zone"),
                                                                   ("opacity", "right lower zone")}),
    # the side of a singular paired term from its clause, not both sides
    ("Large left pneumothorax with a visible visceral pleural line.", {("pneumothorax", "left lung")}),
    ("Moderate left pleural effusion with blunting of the costophrenic angle.",
     {("effusion", "left lung"), ("blunting", "left costophrenic angle")}),
    ("Small right pleural effusion, blunting the posterior costophrenic sulcus.",  # "sulcus" is no plural
     {("effusion", "right lung"), ("blunting", "right costophrenic angle")}),
    # the most specific node, and default sides dropped when a side is stated
    ("Minimal plate-like atelectasis at the lung bases.", {("atelectasis", "left lower zone"),
                                                           ("atelectasis", "right lower zone")}),
    ("A 27 mm pulmonary nodule projects over the right lower lung.", {("nodule", "right lower zone")}),
    ("Lungs demonstrate left upper lobe airspace disease.", {("airspace disease", "left upper zone")}),
    ("Small calcification right lung base.", {("calcification", "right lower zone")}),
    # a lung finding over the heart keeps its lung place only
    ("Masslike density over the lingula, partly obscuring the left heart border.", {("density", "left mid zone")}),
    ("Left lower lobe opacity behind the heart.", {("opacity", "left lower zone")}),
    # sides after the term
    ("Minimal basilar atelectasis on the left.", {("atelectasis", "left lower zone")}),
    ("Calcified granuloma on the right.", {("calcification", "right lung"), ("granuloma", "right lung")}),
    ("Mild blunting of the costophrenic XXXX bilaterally.", {("blunting", "left costophrenic angle"),
                                                             ("blunting", "right costophrenic angle")}),
    # surface forms beyond the shared lexicon
    ("Moderate left PTX.", {("pneumothorax", "left lung")}),
    ("Large amount of right pleural fluid.", {("effusion", "right lung")}),
    ("Calcified right suprahilar granuloma.", {("calcification", "right hilum"), ("granuloma", "right hilum")}),
    ("Mild pulmonary vascular congestion.", {("congestion", "left lung"), ("congestion", "right lung")}),
    # places passed on: what a finding suggests, what stands in apposition to it
    ("Volume loss in the left lower lobe, consistent with atelectasis.", {("collapse", "left lower zone"),
                                                                          ("atelectasis", "left lower zone")}),
    ("Stable opacity in the left base, XXXX scarring or atelectasis.", {
        ("opacity", "left lower zone"), ("scarring", "left lower zone"), ("atelectasis", "left lower zone")}),
])
def test_located_at_rules(text, expected):
    assert located(text) == expected


def test_extra_surface_forms():
    assert extract_graph("Mild levoscoliosis. Stable dextroscoliosis.").pathologies() == {"scoliosis"}
    assert extract_graph("Focal airspace opacity in the lingula.").pathologies() == {"airspace disease"}


def test_suggestive_of_reaches_every_coordinated_pathology():
    g = extract_graph("Left basilar opacity compatible with atelectasis or infiltrate.")
    assert {r for r in relations(g) if r[0] == "suggestive_of"} == {("suggestive_of", "opacity", "atelectasis"),
                                                                    ("suggestive_of", "opacity", "infiltrate")}


def test_modifier_is_the_nearest_size_word_in_the_clause():
    assert relations(extract_graph("Stable mild cardiomegaly.")) >= {("modify", "mild", "cardiomegaly")}
    g = extract_graph("The heart is small. Effusion on the right.")  # not across a sentence end
    assert not any(r[0] == "modify" for r in relations(g))
    assert located("The heart is small. Effusion on the right.") == {("effusion", "right lung")}


def test_every_node_is_in_the_vocabulary():
    text = ("Right apical pneumothorax. Left hilar mass. Right costophrenic angle blunting. Elevated left "
            "hemidiaphragm. Widened mediastinum. Retrocardiac opacity. Lingular and right middle lobe atelectasis.")
    g = extract_graph(text)
    assert {e.name for e in g.entities if e.kind == "anatomy"} <= set(ANATOMY_NODES)
    assert located(text) >= {("pneumothorax", "right upper zone"), ("mass", "left hilum"),
                             ("blunting", "right costophrenic angle"), ("elevation", "left hemidiaphragm"),
                             ("opacity", "left lower zone")}
