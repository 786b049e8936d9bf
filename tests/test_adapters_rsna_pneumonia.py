"""RSNA Pneumonia (stage 2): boxes per image from the labels CSV, DICOM headers, box-union masks, bad inputs counted."""
import numpy as np
import pytest

from _layouts import write_dicom, write_text
from cxrvlp.data.masks import box_union_mask, read_mask
from cxrvlp.data.rsna_pneumonia import read_rsna_pneumonia
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import crossing_patients

POS, NEG = "00436515-870c-4b36-a041-de91049b9ab4", "0004cfab-14fd-4e49-80ba-63a80b6bddd6"
LABELS = f"""patientId,x,y,width,height,Target
{NEG},,,,,0
{POS},4.0,6.0,10.0,20.0,1
{POS},30.0,6.5,12.0,20.0,1
missing-dicom,,,,,0
broken-dicom,,,,,0
bad-row,abc,1,2,3,1
"""
CLASSES = f"""patientId,class
{NEG},No Lung Opacity / Not Normal
{POS},Lung Opacity
{POS},Lung Opacity
"""


@pytest.fixture()
def rsna(tmp_path):
    root = tmp_path / "rsna-pneumonia-detection-challenge"
    write_text(root / "stage_2_train_labels.csv", LABELS)
    write_text(root / "stage_2_detailed_class_info.csv", CLASSES)
    images = root / "stage_2_train_images"
    write_dicom(images / f"{POS}.dcm", np.full((64, 48), 90, np.uint8), view="AP", patient_id=POS)
    write_dicom(images / f"{NEG}.dcm", np.full((64, 48), 90, np.uint8), view="PA", patient_id=NEG)
    write_text(images / "broken-dicom.dcm", "not a dicom at all")
    return root


def test_boxes_labels_and_views(rsna):
    skips = SkipLog()
    studies = {s.study_id: s for s in read_rsna_pneumonia(rsna, skips=skips, progress=False)}
    assert sorted(studies) == sorted([POS, NEG])
    pos = studies[POS]
    assert pos.labels == {"Pneumonia": 1.0} and pos.meta["class"] == "Lung Opacity"
    assert pos.frontal[0].view == "AP" and pos.meta["image_size"] == (64, 48)
    assert [(b.x0, b.y0, b.x1, b.y1) for b in pos.frontal[0].boxes] == [(4, 6, 14, 26), (30, 6.5, 42, 26.5)]
    assert studies[NEG].labels == {"Pneumonia": 0.0} and not studies[NEG].frontal[0].boxes
    assert skips.counts == {"missing image file": 1, "not a DICOM file": 1, "malformed label row": 1}
    assert skips.examples["malformed label row"] == [
        "stage_2_train_labels.csv:7 (could not convert string to float: 'abc')"]
    assert "broken-dicom.dcm (stage_2_train_labels.csv:6)" in skips.examples["not a DICOM file"][0]


def test_box_union_masks_written_once_and_aligned(rsna, tmp_path):
    masks = tmp_path / "masks"
    studies = {s.study_id: s for s in read_rsna_pneumonia(rsna, mask_dir=masks, progress=False)}
    pos = read_mask(studies[POS].frontal[0].masks["lung_opacity"])
    assert pos.shape == (64, 48)
    expected = np.zeros((64, 48), bool)
    expected[6:26, 4:14] = True
    expected[6:27, 30:42] = True  # y 6.5..26.5 touches rows 6..26
    assert np.array_equal(pos, expected)
    assert not read_mask(studies[NEG].frontal[0].masks["lung_opacity"]).any()
    assert np.array_equal(box_union_mask(studies[POS].frontal[0].boxes, 64, 48), expected)


def test_patient_hash_split_is_deterministic_and_disjoint(rsna):
    first = [(s.study_id, s.split) for s in read_rsna_pneumonia(rsna, seed=5, progress=False)]
    assert first == [(s.study_id, s.split) for s in read_rsna_pneumonia(rsna, seed=5, progress=False)]
    assert not crossing_patients(read_rsna_pneumonia(rsna, progress=False))
    only_train = list(read_rsna_pneumonia(rsna, splits=("train",), seed=5, progress=False))
    assert [s.study_id for s in only_train] == [sid for sid, split in first if split == "train"]
