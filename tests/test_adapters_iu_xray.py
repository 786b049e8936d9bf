"""IU X-Ray / Open-i in its three official layouts: Kaggle CSVs, R2Gen annotation.json, Open-i XML."""
import json

import pytest

from _layouts import truncate, write_image, write_text
from cxrvlp.data.iu_xray import read_iu_xray
from cxrvlp.data.skips import SkipLog

REPORTS = """uid,MeSH,Problems,image,indication,comparison,findings,impression
1,normal,normal,Xray Chest PA and Lateral,Positive TB test,None.,"The cardiac silhouette is within normal limits.
There is no pneumothorax.",Normal chest x-XXXX.
2,Cardiomegaly/borderline;Pulmonary Artery/enlarged,Cardiomegaly;Pulmonary Artery,"Chest, 2 views",Preop.,None.,nan,
3,Opacity/lung,Opacity,PA and lateral,Cough,None.,Right lower lobe opacity.,Pneumonia.
4,normal,normal,PA,Pain,None.,Clear lungs.,No acute disease.
5,normal,normal,PA,Pain,None.,Clear lungs.,Normal.
"""
PROJECTIONS = """uid,filename,projection
1,1_IM-0001-4001.dcm.png,Frontal
1,1_IM-0001-3001.dcm.png,Lateral
2,2_IM-0652-1001.dcm.png,Frontal
3,3_IM-1384-1001.dcm.png,Frontal
4,4_IM-2050-1001.dcm.png,Frontal
4,4_IM-2050-2001.dcm.png,Oblique
5,5_IM-2117-1001.dcm.png,Frontal
"""


@pytest.fixture()
def kaggle(tmp_path):
    root = tmp_path / "chest-xrays-indiana-university"
    write_text(root / "indiana_reports.csv", REPORTS)
    write_text(root / "indiana_projections.csv", PROJECTIONS)
    for name in ("1_IM-0001-4001", "1_IM-0001-3001", "2_IM-0652-1001", "4_IM-2050-1001", "4_IM-2050-2001",
                 "5_IM-2117-1001"):
        write_image(root / "images" / "images_normalized" / f"{name}.dcm.png")
    truncate(root / "images" / "images_normalized" / "5_IM-2117-1001.dcm.png")
    return root


def test_kaggle_layout_groups_views_and_keeps_sections(kaggle):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_iu_xray(kaggle, skips=skips)}
    assert sorted(studies) == ["1", "4"]
    s1 = studies["1"]
    assert [r.view for r in s1.frontal] == ["FRONTAL"] and [r.view for r in s1.lateral] == ["LATERAL"]
    assert s1.sections["FINDINGS"] == "The cardiac silhouette is within normal limits. There is no pneumothorax."
    assert s1.sections["IMPRESSION"] == "Normal chest x-XXXX." and s1.sections["INDICATION"] == "Positive TB test"
    assert s1.meta["mesh"] == ["normal"] and s1.meta["split_source"] == "patient hash"
    assert s1.patient_id == "1" and not studies["4"].lateral
    assert skips.counts == {"study without report text": 1, "missing image file": 1, "unknown view code": 1,
                            "truncated PNG (no IEND chunk)": 1, "study without a usable frontal image": 2}
    assert skips.examples["study without report text"] == ["indiana_reports.csv:4"]  # line of uid 2 (row 1 is 2 lines)
    assert "indiana_projections.csv:7 ('Oblique')" in skips.examples["unknown view code"][0]


def test_report_only_studies_when_images_are_not_required(kaggle):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_iu_xray(kaggle, skips=skips, require_images=False)}
    assert sorted(studies) == ["1", "3", "4", "5"]
    assert not studies["3"].frontal and studies["3"].sections["IMPRESSION"] == "Pneumonia."
    assert skips.counts["missing image file"] == 1 and "study without a usable frontal image" not in skips.counts


def _annotation(test_key="    "):
    entry = lambda rid, split, report: {"id": rid, "report": report, "split": split,  # noqa: E731
                                        "image_path": [f"{rid}/0.png", f"{rid}/1.png"]}
    return {"train": [entry("CXR1_1_IM-0001", "train", "The heart is normal.")],
            "val": [entry("CXR4_IM-2050", "val", "Clear lungs.")],
            test_key: [entry("CXR3_IM-1384", "test", "Opacity.")],
            "extra": [{"id": "CXR9_IM-0009", "report": "x", "image_path": ["CXR9_IM-0009/0.png"]}]}


def test_r2gen_layout_reads_the_four_space_test_key(tmp_path):
    root = tmp_path / "iu_xray"
    (root).mkdir()
    (root / "annotation.json").write_text(json.dumps(_annotation()))
    for rid in ("CXR1_1_IM-0001", "CXR4_IM-2050", "CXR3_IM-1384"):
        write_image(root / "images" / rid / "0.png")
        write_image(root / "images" / rid / "1.png")
    skips = SkipLog()
    studies = {s.study_id: s for s in read_iu_xray(root, skips=skips)}
    assert {k: s.split for k, s in studies.items()} == {"1": "train", "4": "validate", "3": "test"}
    assert studies["1"].sections == {"FINDINGS": "The heart is normal."}
    assert studies["1"].meta["r2gen_id"] == "CXR1_1_IM-0001" and len(studies["1"].lateral) == 1
    assert skips.counts == {"R2Gen entry without a known split": 1}
    assert skips.examples["R2Gen entry without a known split"] == ["annotation.json:'extra'[0]"]


def test_kaggle_with_r2gen_split_keeps_r2gen_test_set(kaggle):
    (kaggle / "annotation.json").write_text(json.dumps(_annotation(test_key="test")))
    studies = {s.study_id: s for s in read_iu_xray(kaggle, require_images=False)}
    assert {k: (s.split, s.meta["split_source"]) for k, s in studies.items()} == {
        "1": ("train", "r2gen"), "3": ("test", "r2gen"), "4": ("validate", "r2gen"), "5": ("train", "not in r2gen")}


OPENI_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR1"/>
  <pmcId id="1"/>
  <docSource>CXR</docSource>
  <IUXRId id="1"/>
  <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
    <Article PubModel="Electronic">
      <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">Positive TB test</AbstractText>
        <AbstractText Label="FINDINGS">The cardiac silhouette and mediastinum are normal.</AbstractText>
        <AbstractText Label="IMPRESSION">Normal chest x-XXXX.</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <MeSH>
    <major>normal</major>
  </MeSH>
  <parentImage id="CXR1_1_IM-0001-3001">
    <figureId>F1</figureId>
    <caption>Xray Chest PA and Lateral</caption>
    <panel type="single"><url>/hadoop/storage/radiology/extract/CXR1_1_IM-0001-3001.png</url></panel>
  </parentImage>
  <parentImage id="CXR1_1_IM-0001-4001">
    <figureId>F2</figureId>
    <caption>Xray Chest PA and Lateral</caption>
    <panel type="single"><url>/hadoop/storage/radiology/extract/CXR1_1_IM-0001-4001.png</url></panel>
  </parentImage>
</eCitation>
"""


def test_openi_xml_with_projections_and_a_broken_file(tmp_path):
    root = tmp_path / "openi"
    write_text(root / "ecgen-radiology" / "1.xml", OPENI_XML)
    write_text(root / "ecgen-radiology" / "2.xml", "<eCitation><MeSH><major>x</major></eCitation>\n")
    write_image(root / "NLMCXR_png" / "CXR1_1_IM-0001-3001.png")
    write_image(root / "NLMCXR_png" / "CXR1_1_IM-0001-4001.png")
    skips = SkipLog()
    assert list(read_iu_xray(root, skips=skips)) == []  # without projections no image has a known view
    assert skips.counts["unknown view code"] == 2 and skips.counts["unreadable XML report"] == 1
    assert "no projection: put indiana_projections.csv beside" in skips.examples["unknown view code"][0]
    assert skips.examples["unreadable XML report"][0].startswith(f"{root / 'ecgen-radiology' / '2.xml'}:1 ")

    write_text(root / "indiana_projections.csv", PROJECTIONS)
    (study,) = read_iu_xray(root)
    assert study.study_id == "1" and study.meta["mesh"] == ["normal"]
    assert [r.image_id for r in study.frontal] == ["CXR1_1_IM-0001-4001"]
    assert [r.image_id for r in study.lateral] == ["CXR1_1_IM-0001-3001"]
    assert study.sections["COMPARISON"] == "None." and study.report_text().startswith("The cardiac silhouette")


def test_no_known_layout_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="indiana_reports.csv .Kaggle., annotation.json .R2Gen."):
        list(read_iu_xray(tmp_path))
