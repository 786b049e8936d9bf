"""CheXpert v1.0(-small): views grouped per study from Path, uncertainty policies per label, official/MGCA splits."""
import pytest

from _layouts import truncate, write_image, write_text
from cxrvlp.data.chexpert import read_chexpert, uncertainty_policy
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import crossing_patients

HEADER = ("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,"
          "Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,"
          "Fracture,Support Devices\n")
#            NoF ECM Card LOp LLe Edema Cons Pneu Atel Ptx Eff PlO Frac SD
P1_LABELS = ",,-1.0,0.0,,-1.0,,-1.0,-1.0,,,,,1.0"


@pytest.fixture()
def chexpert(tmp_path):
    root = tmp_path / "CheXpert-v1.0-small"
    rows = [("train/patient00001/study1/view1_frontal.jpg", "Frontal", "AP", P1_LABELS, "ok"),
            ("train/patient00001/study1/view2_lateral.jpg", "Lateral", "", P1_LABELS, "ok"),
            ("train/patient00002/study1/view1_frontal.jpg", "Frontal", "PA", ",,,,,,,,,,,,,", "missing"),
            ("train/patient00003/study2/view1_frontal.jpg", "Frontal", "PA", "1.0,,,,,,,,,,,,,", "truncated"),
            ("train/patient00004/study1/view1_frontal.jpg", "Frontal", "", "1.0,,,,,,,,,,,,,", "ok"),
            ("train/weird.jpg", "Frontal", "AP", ",,,,,,,,,,,,,", "ok")]
    rows += [(f"train/patient{p:05d}/study1/view1_frontal.jpg", "Frontal", "PA", "1.0,,,,,,,,,,,,,", "ok")
             for p in range(10, 40)]
    text = HEADER
    for rel, fl, appa, labels, state in rows:
        text += f"CheXpert-v1.0-small/{rel},Female,68,{fl},{appa},{labels}\n"
        if state != "missing":
            write_image(root / rel)
        if state == "truncated":
            truncate(root / rel)
    write_text(root / "train.csv", text)
    write_image(root / "valid/patient64541/study1/view1_frontal.jpg")
    write_text(root / "valid.csv", HEADER + "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg,"
               "Male,73,Frontal,AP,0.0,1.0,1.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0\n")
    return root


def test_views_grouped_and_mgca_uncertainty(chexpert):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_chexpert(chexpert, skips=skips)}
    s1 = studies["patient00001/study1"]
    assert [r.view for r in s1.frontal] == ["AP"] and [r.view for r in s1.lateral] == ["LATERAL"]
    assert s1.labels == {"Atelectasis": 1.0, "Cardiomegaly": 0.0, "Edema": 1.0, "Lung Opacity": 0.0,
                         "Support Devices": 1.0}  # Pneumonia (-1) ignored, blanks absent
    assert s1.meta["raw_labels"]["Pneumonia"] == -1.0 and s1.split == "train"
    assert studies["patient00004/study1"].frontal[0].view == "FRONTAL"
    assert studies["patient64541/study1"].split == "validate"
    assert skips.counts == {"missing image file": 1, "truncated JPEG (no end-of-image marker)": 1,
                            "study without a usable frontal image": 2,
                            "path not of the form .../patientN/studyN/viewN.jpg": 1}
    assert skips.examples["path not of the form .../patientN/studyN/viewN.jpg"] == [
        "train.csv:7 (CheXpert-v1.0-small/train/weird.jpg)"]


@pytest.mark.parametrize("policy, expected", [
    ({"Pneumonia": "ones"}, {"Pneumonia": 1.0, "Lung Opacity": 0.0, "Support Devices": 1.0}),
    ("zeros", {"Atelectasis": 0.0, "Cardiomegaly": 0.0, "Edema": 0.0, "Pneumonia": 0.0, "Lung Opacity": 0.0,
               "Support Devices": 1.0}),
    ("keep", {"Atelectasis": -1.0, "Cardiomegaly": -1.0, "Edema": -1.0, "Pneumonia": -1.0, "Lung Opacity": 0.0,
              "Support Devices": 1.0}),
])
def test_uncertainty_policies(chexpert, policy, expected):
    studies = {s.study_id: s for s in read_chexpert(chexpert, uncertainty=policy)}
    assert studies["patient00001/study1"].labels == expected


def test_blank_as_negative_and_bad_policies(chexpert):
    (s1,) = [s for s in read_chexpert(chexpert, blank_as_negative=True) if s.study_id == "patient00001/study1"]
    assert s1.labels["No Finding"] == 0.0 and len(s1.labels) == 13  # Pneumonia stays ignored
    with pytest.raises(ValueError, match="unknown uncertainty policy"):
        uncertainty_policy("U-Ones")
    with pytest.raises(ValueError, match="unknown CheXpert label"):
        uncertainty_policy({"Pneumothorax ": "ones"})


def test_mgca_protocol_holdout_is_patient_disjoint(chexpert):
    studies = list(read_chexpert(chexpert, holdout_fraction=0.3, seed=3))
    by_split = {sp: {s.patient_id for s in studies if s.split == sp} for sp in ("train", "validate", "test")}
    assert by_split["test"] == {"patient64541"}  # the official valid.csv becomes the test set
    assert by_split["validate"] and by_split["train"] and not crossing_patients(studies)
