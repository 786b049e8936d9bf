"""NIH ChestX-ray14: the exact 2017 headers (split bracketed columns, trailing commas), boxes, official lists."""
import pytest

from _layouts import write_image, write_text
from cxrvlp.data.nih_cxr14 import LABELS, read_nih_cxr14
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import crossing_patients

ENTRY_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n")
BBOX = """Image Index,Finding Label,Bbox [x,y,w,h],,,
00000001_000.png,Cardiomegaly,225.084745762712,547.019216763771,86.7796610169491,79.1864406779661,,,
00000001_000.png,Effusion,10,20,30,40,,,
00000002_000.png,Mass,abc,1,2,3,,,
"""


@pytest.fixture()
def nih(tmp_path):
    root = tmp_path / "ChestXray-NIHCC"
    rows = [("00000001_000.png", "Cardiomegaly|Effusion", 1, "058Y", "PA"),
            ("00000001_001.png", "No Finding", 1, "058Y", "AP"),
            ("00000002_000.png", "Mass|Covid", 2, "006M", "PA"),
            ("00000003_000.png", "Nodule", 3, "81", "XX"),
            ("00000004_000.png", "Hernia", 4, "40", "PA"),  # image file missing
            ("00000005_000.png", "No Finding", 5, "40", "PA")]  # in neither list
    rows += [(f"{p:08d}_000.png", "No Finding", p, "50", "PA") for p in range(10, 60)]
    text = ENTRY_HEADER + "".join(f"{n},{f},0,{p},{a},M,{v},2500,2048,0.143,0.143,\n" for n, f, p, a, v in rows)
    write_text(root / "Data_Entry_2017.csv", text)
    write_text(root / "BBox_List_2017.csv", BBOX)
    for i, (name, *_rest) in enumerate(rows):
        if name != "00000004_000.png":
            write_image(root / f"images_00{1 + i % 2}" / "images" / name)
    names = [r[0] for r in rows if r[0] != "00000005_000.png"]
    write_text(root / "test_list.txt", "00000002_000.png\n")
    write_text(root / "train_val_list.txt", "\n".join(n for n in names if n != "00000002_000.png") + "\n")
    return root


def test_labels_boxes_views_and_quirky_columns(nih):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_nih_cxr14(nih, skips=skips, holdout_fraction=0.0, progress=False)}
    s = studies["00000001_000"]
    assert s.labels["Cardiomegaly"] == s.labels["Effusion"] == 1.0 and s.labels["No Finding"] == 0.0
    assert set(s.labels) == set(LABELS) and s.patient_id == "1"
    assert s.meta["age_years"] == 58 and s.meta["original_size"] == ("2500", "2048")
    box = s.frontal[0].boxes[0]
    assert (box.label, box.x0, box.y1) == ("Cardiomegaly", pytest.approx(225.0847), pytest.approx(626.2056, 1e-4))
    assert len(s.frontal[0].boxes) == 2 and studies["00000001_001"].frontal[0].view == "AP"
    assert studies["00000002_000"].split == "test" and studies["00000002_000"].meta["age_years"] == 0.5
    assert skips.counts == {"malformed box row": 1, "unknown finding label (ignored)": 1, "unknown view code": 1,
                            "study without a usable frontal image": 2, "missing image file": 1,
                            "image in neither train_val_list.txt nor test_list.txt": 1}
    assert skips.examples["malformed box row"] == ["BBox_List_2017.csv:4 (['abc', '1', '2', '3'])"]
    assert skips.examples["unknown view code"] == ["Data_Entry_2017.csv:5 ('XX')"]


def test_holdout_from_train_val_is_patient_disjoint(nih):
    studies = list(read_nih_cxr14(nih, holdout_fraction=0.3, progress=False))
    splits = {s.split for s in studies}
    assert splits == {"train", "validate", "test"} and not crossing_patients(studies)
    assert [s.study_id for s in studies if s.split == "test"] == ["00000002_000"]


def test_without_official_lists_a_patient_hash_split(nih):
    (nih / "train_val_list.txt").unlink()
    (nih / "test_list.txt").unlink()
    studies = list(read_nih_cxr14(nih, progress=False))
    assert {s.split for s in studies} == {"train", "validate", "test"} and not crossing_patients(studies)
    again = list(read_nih_cxr14(nih, progress=False))
    assert [(s.study_id, s.split) for s in again] == [(s.study_id, s.split) for s in studies]


def test_v2020_file_name_and_missing_csv(nih, tmp_path):
    (nih / "Data_Entry_2017.csv").rename(nih / "Data_Entry_2017_v2020.csv")
    assert len(list(read_nih_cxr14(nih, progress=False))) == 53  # 56 rows - missing, unknown view, unlisted
    with pytest.raises(FileNotFoundError, match="Data_Entry_2017_v2020.csv or Data_Entry_2017.csv"):
        list(read_nih_cxr14(tmp_path / "ChestXray-NIHCC" / "images_001", progress=False))
