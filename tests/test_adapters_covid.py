"""COVIDx CXR (2-class and old 3-class lists) and the ieee8023 covid-chestxray-dataset metadata.csv."""
import pytest

from _layouts import write_image, write_text
from cxrvlp.data.covid_chestxray import finding_labels, read_covid_chestxray
from cxrvlp.data.covidx import read_covidx
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import crossing_patients


@pytest.fixture()
def covidx(tmp_path):
    root = tmp_path / "covidx-cxr2"
    write_text(root / "train.txt", "1 ANON-0001.png positive cohen\n2 some file (1).png negative rsna\n"
                                   "3 ANON-3.png maybe sirm\n4 missing.png negative rsna\n\n")
    write_text(root / "val.txt", "5 ANON-5.jpg negative bimcv\n")
    write_text(root / "test.txt", "6 ANON-6.png positive ricord\n6 ANON-6.png positive ricord\n")
    for rel in ("train/ANON-0001.png", "train/some file (1).png", "train/ANON-3.png", "val/ANON-5.jpg",
                "test/ANON-6.png"):
        write_image(root / rel)
    return root


def test_covidx_cxr2_lists(covidx):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_covidx(covidx, skips=skips)}
    assert {k: (s.split, s.labels["COVID-19"], s.meta["source"]) for k, s in studies.items()} == {
        "ANON-0001": ("train", 1.0, "cohen"), "some file (1)": ("train", 0.0, "rsna"),
        "ANON-5": ("validate", 0.0, "bimcv"), "ANON-6": ("test", 1.0, "ricord")}
    assert studies["ANON-0001"].frontal[0].view == "FRONTAL" and studies["ANON-0001"].patient_id == "1"
    assert skips.counts == {"line without a known class": 1, "missing image file": 1, "image listed twice": 1,
                            "study without a usable frontal image": 1}
    assert skips.examples["line without a known class"] == ["train.txt:3 ('3 ANON-3.png maybe sirm')"]
    assert skips.examples["image listed twice"] == ["test.txt:2"]


def test_covidx_three_class_lists_and_holdout(tmp_path):
    root = tmp_path / "covidx-v3"
    lines = [f"{p} img{p}.png {cls}" for p, cls in zip(range(40), ["COVID-19", "normal", "pneumonia"] * 14)]
    write_text(root / "train_split.txt", "\n".join(lines[:30]) + "\n")
    write_text(root / "test_split.txt", "\n".join(lines[30:]) + "\n")
    for p in range(40):
        write_image(root / ("train" if p < 30 else "test") / f"img{p}.png")
    studies = list(read_covidx(root, holdout_fraction=0.3))
    assert {s.split for s in studies} == {"train", "validate", "test"} and not crossing_patients(studies)
    first = {s.study_id: s.labels for s in studies}["img0"]
    assert first == {"COVID-19": 1.0, "Pneumonia": 0.0, "Normal": 0.0}
    with pytest.raises(ValueError, match="unknown split name"):
        list(read_covidx(root, lists={"dev": "train_split.txt"}))


METADATA_HEADER = ("patientid,offset,sex,age,finding,RT_PCR_positive,survival,intubated,intubation_present,"
                   "went_icu,in_icu,needed_supplemental_O2,extubated,temperature,pO2_saturation,leukocyte_count,"
                   "neutrophil_count,lymphocyte_count,view,modality,date,location,folder,filename,doi,url,license,"
                   "clinical_notes,other_notes,Unnamed: 29\n")


def _meta_row(pid, offset, finding, view, modality, folder, filename, notes):
    return (f'{pid},{offset},M,65,"{finding}",Y,Y,,,,,,,,,,,,{view},{modality},"January 22, 2020",Hanoi,{folder},'
            f'{filename},10.1056/x,https://x,,"{notes}",,\n')


def test_ieee8023_metadata_studies_views_labels(tmp_path):
    root = tmp_path / "covid-chestxray-dataset"
    rows = [(2, 0, "Pneumonia/Viral/COVID-19", "PA", "X-ray", "images", "a.jpg", "Fever, day 0."),
            (2, 0, "Pneumonia/Viral/COVID-19", "L", "X-ray", "images", "b.jpg", "Fever, day 0."),
            (2, 3, "Pneumonia/Viral/COVID-19", "AP Supine", "X-ray", "images", "c.jpg", "Worse on day 3."),
            (2, 3, "Pneumonia/Viral/COVID-19", "Axial", "CT", "volumes", "d.nii.gz", "CT."),
            (7, "", "todo", "AP Supine", "X-ray", "images", "e.png", "Notes of 7."),
            (8, 1, "COVID-19, ARDS", "PA", "X-ray", "images", "f.jpg", "")]
    write_text(root / "metadata.csv", METADATA_HEADER + "".join(_meta_row(*r) for r in rows))
    for name in ("a.jpg", "b.jpg", "c.jpg", "e.png", "f.jpg"):
        write_image(root / "images" / name)
    skips = SkipLog()
    studies = {s.study_id: s for s in read_covid_chestxray(root, skips=skips)}
    assert sorted(studies) == ["ieee8023-2_d0", "ieee8023-2_d3", "ieee8023-7_dNA"]
    d0 = studies["ieee8023-2_d0"]
    assert [r.image_id for r in d0.frontal] == ["a.jpg"] and [r.view for r in d0.lateral] == ["LATERAL"]
    assert d0.sections == {"CLINICAL NOTES": "Fever, day 0."} and d0.patient_id == "ieee8023-2"
    assert d0.labels["COVID-19"] == d0.labels["Viral"] == d0.labels["Pneumonia"] == 1.0 and d0.labels["SARS"] == 0.0
    assert studies["ieee8023-2_d3"].frontal[0].view == "AP" and studies["ieee8023-7_dNA"].labels == {}
    assert skips.counts == {"not an X-ray (modality column)": 1, "study without report text": 1}
    assert skips.examples["not an X-ray (modality column)"] == ["metadata.csv:5 ('CT')"]
    assert len({s.split for s in studies.values() if s.patient_id == "ieee8023-2"}) == 1


def test_finding_labels_both_styles():
    assert finding_labels("COVID-19, ARDS")["ARDS"] == 1.0
    assert finding_labels("Mycoplasma Bacterial Pneumonia")["Mycoplasma"] == 1.0
    assert finding_labels("No finding")["No Finding"] == 1.0 and finding_labels("No finding")["COVID-19"] == 0.0
    assert finding_labels("todo") == {} and finding_labels("") == {}
