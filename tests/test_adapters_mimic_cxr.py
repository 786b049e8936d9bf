"""MIMIC-CXR-JPG 2.x + MIMIC-CXR reports (tree or the official zip), on a fixture in the official layout."""
import zipfile

import pytest

from _layouts import truncate, write_image, write_text
from cxrvlp.data.adapters import CHEXPERT_14
from cxrvlp.data.mimic_cxr import read_mimic_cxr
from cxrvlp.data.skips import SkipLog

META_HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,"
               "StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
               "PatientOrientationCodeSequence_CodeMeaning\n")
REPORT = ("FINAL REPORT\n EXAMINATION: CHEST (PA AND LAT)\n\n FINDINGS: Heart size is normal.\n\n"
          " IMPRESSION: No acute process.\n")


def _meta_row(dicom_id, subject, study, view):
    return (f"{dicom_id},{subject},{study},CHEST (PA AND LAT),{view},16,12,21800506,213014.531,CHEST,"
            "postero-anterior,Erect\n")


@pytest.fixture()
def mimic(tmp_path):
    root = tmp_path / "mimic-cxr-jpg"
    studies = {  # study -> [(dicom_id, view, image state)]
        "50000001": [("d1", "PA", "ok"), ("d2", "LATERAL", "ok")],
        "50000002": [("d3", "AP", "missing")],
        "50000003": [("d4", "PA", "truncated")],
        "50000004": [("d5", "XTABLE LATERAL", "ok"), ("d6", "AP", "ok")],
        "50000005": [("d7", "PA", "ok")],  # no report anywhere
        "50000006": [("d8", "PA", "ok")],  # report in the tree (wins over the zip)
    }
    meta, split = META_HEADER, "dicom_id,study_id,subject_id,split\n"
    for i, (study, images) in enumerate(studies.items()):
        subject = f"1000000{i}"
        for dicom_id, view, state in images:
            meta += _meta_row(dicom_id, subject, study, view)
            split += f"{dicom_id},{study},{subject},{'validate' if study == '50000006' else 'train'}\n"
            path = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg"
            if state != "missing":
                write_image(path)
            if state == "truncated":
                truncate(path)
    write_text(root / "mimic-cxr-2.0.0-metadata.csv", meta)
    write_text(root / "mimic-cxr-2.0.0-split.csv", split)
    labels = "subject_id,study_id," + ",".join(CHEXPERT_14) + "\n"
    labels += "10000000,50000001,1.0,,nan,-1.0,0.0,,,,,,,,,\n"
    labels += "10000005,50000006,,,,,,,,,,,,,,maybe\n"
    write_text(root / "mimic-cxr-2.0.0-chexpert.csv", labels)
    with zipfile.ZipFile(root / "mimic-cxr-reports.zip", "w") as z:
        for i, study in enumerate(studies):
            if study != "50000005":
                z.writestr(f"files/p10/p1000000{i}/s{study}.txt", REPORT.replace("normal", f"normal {study}"))
    write_text(root / "files" / "p10" / "p10000005" / "s50000006.txt", "IMPRESSION: from the tree.\n")
    return root


def test_reports_from_zip_and_tree_views_grouped(mimic):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_mimic_cxr(mimic, skips=skips)}
    assert sorted(studies) == ["50000001", "50000004", "50000006"]
    s1 = studies["50000001"]
    assert [r.image_id for r in s1.frontal] == ["d1"] and [r.image_id for r in s1.lateral] == ["d2"]
    assert s1.sections["FINDINGS"] == "Heart size is normal 50000001."
    assert s1.labels == {"Atelectasis": 1.0, "Edema": -1.0, "Enlarged Cardiomediastinum": 0.0}  # blank/nan absent
    assert studies["50000006"].sections == {"IMPRESSION": "from the tree."} and studies["50000006"].split == "validate"
    assert [r.image_id for r in studies["50000004"].frontal] == ["d6"]


def test_every_unusable_input_is_counted_with_its_location(mimic):
    skips = SkipLog()
    list(read_mimic_cxr(mimic, skips=skips))
    assert skips.counts == {"missing image file": 1, "truncated JPEG (no end-of-image marker)": 1,
                            "study without a usable frontal image": 2, "unknown view code": 1, "missing report": 1,
                            "unreadable label cell": 1}
    assert "mimic-cxr-2.0.0-metadata.csv:6 ('XTABLE LATERAL')" in skips.examples["unknown view code"][0]
    assert "mimic-cxr-reports.zip:files/p10/p10000004/s50000005.txt" in skips.examples["missing report"][0]
    assert "d3.jpg (mimic-cxr-2.0.0-metadata.csv:4)" in skips.examples["missing image file"][0]
    assert "mimic-cxr-2.0.0-chexpert.csv:3 (Support Devices='maybe')" in skips.examples["unreadable label cell"][0]


def test_separate_reports_zip_and_split_filter(mimic, tmp_path):
    moved = tmp_path / "elsewhere.zip"
    (mimic / "mimic-cxr-reports.zip").rename(moved)
    ids = [s.study_id for s in read_mimic_cxr(mimic, reports_root=moved, splits=("train",))]
    assert ids == ["50000001", "50000004"]
    with pytest.raises(FileNotFoundError, match="neither a folder nor a zip"):
        list(read_mimic_cxr(mimic, reports_root=tmp_path / "nope.zip"))


def test_missing_metadata_column_names_file_and_line(mimic):
    write_text(mimic / "mimic-cxr-2.0.0-metadata.csv", "dicom_id,subject_id,study_id\nd1,1,2\n")
    with pytest.raises(ValueError, match=r"metadata.csv, line 1: missing column\(s\) \['ViewPosition'\]"):
        list(read_mimic_cxr(mimic))
