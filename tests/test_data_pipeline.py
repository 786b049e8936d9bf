import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp.data.dataset import Collate, StudyDataset
from cxrvlp.data.study import ImageRecord, Study, view_kind
from cxrvlp.data.transforms import Preprocess, resize_pad
from cxrvlp.text.sections import split_sections


def _fake_tokenizer(texts, max_length):
    ids = [[len(w) for w in t.split()][:max_length] for t in texts]
    width = max(len(i) for i in ids)
    input_ids = torch.tensor([i + [0] * (width - len(i)) for i in ids])
    return {"input_ids": input_ids, "attention_mask": (input_ids > 0).long()}


def _study(tmp_path, sid, lateral: bool, value: int):
    d = tmp_path / sid
    d.mkdir()
    Image.fromarray(np.full((40, 30), value, np.uint8)).save(d / "f.png")
    lat = []
    if lateral:
        Image.fromarray(np.full((40, 36), 255 - value, np.uint8)).save(d / "l.png")
        lat = [ImageRecord(d / "l.png", "LATERAL")]
    return Study("p1", sid, "train", frontal=[ImageRecord(d / "f.png", "PA")], lateral=lat,
                 sections={"FINDINGS": f"finding {sid}", "IMPRESSION": "no acute process"},
                 labels={"cardiomegaly": 1.0} if lateral else {})


def test_collate_packs_laterals_with_explicit_index(tmp_path):
    studies = [_study(tmp_path, "s1", True, 10), _study(tmp_path, "s2", False, 20), _study(tmp_path, "s3", True, 30)]
    pre = Preprocess(resize=32, crop=32, mean=0.0, std=1.0, augment=False)
    ds = StudyDataset(studies, pre, train=False, label_names=("cardiomegaly", "edema"), use_lateral=True)
    batch = Collate(_fake_tokenizer, 16)([ds[i] for i in range(3)])
    assert batch["frontal"].shape == (3, 1, 32, 32)
    assert batch["lateral"].shape == (2, 1, 32, 32)
    assert batch["lateral_index"].tolist() == [0, 2]
    assert batch["has_lateral"].tolist() == [True, False, True]
    # packed laterals are the right studies' images, not blanks
    assert batch["lateral"][0].max().item() == pytest.approx((255 - 10) / 255, abs=1e-3)
    assert batch["lateral"][1].max().item() == pytest.approx((255 - 30) / 255, abs=1e-3)
    labels = batch["labels"]
    assert labels[0].tolist()[0] == 1.0 and torch.isnan(labels[0, 1]) and torch.isnan(labels[1]).all()
    assert batch["attention_mask"].shape == batch["input_ids"].shape


def test_collate_without_any_lateral(tmp_path):
    studies = [_study(tmp_path, "s1", False, 10), _study(tmp_path, "s2", False, 20)]
    ds = StudyDataset(studies, Preprocess(resize=32, crop=24), train=True)
    batch = Collate(_fake_tokenizer, 16)([ds[0], ds[1]])
    assert batch["lateral"].shape == (0, 1, 24, 24) and batch["lateral_index"].numel() == 0
    assert not batch["has_lateral"].any()


def test_resize_pad_keeps_aspect_and_pads_black():
    img = torch.ones(1, 100, 50)
    out = resize_pad(img, 64)
    assert out.shape == (1, 64, 64)
    assert out[0, :, 16:48].min() > 0.99 and out[0, :, :15].max() == 0 and out[0, :, 49:].max() == 0


def test_study_rejects_wrong_views_and_splits(tmp_path):
    with pytest.raises(ValueError, match="not a frontal view"):
        Study("p", "s", "train", frontal=[ImageRecord(tmp_path / "x.jpg", "LATERAL")])
    with pytest.raises(ValueError, match="split"):
        Study("p", "s", "training")
    assert view_kind("ll") == "lateral" and view_kind("AP") == "frontal" and view_kind("SWIMMERS") == "other"


def test_report_text_uses_findings_and_impression_then_falls_back():
    s = Study("p", "s", "test", sections={"INDICATION": "cough", "IMPRESSION": "No acute process."})
    assert s.report_text() == "No acute process."
    assert Study("p", "s", "test", sections={"INDICATION": "cough"}).report_text() == "cough"


def test_split_sections_mimic_style():
    text = ("                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n\n INDICATION: "
            "___ with cough\n\n FINDINGS: \n The lungs are clear.\n No effusion.\n\n IMPRESSION: \n"
            " No acute process.\n")
    s = split_sections(text)
    assert s["FINDINGS"] == "The lungs are clear. No effusion."
    assert s["IMPRESSION"] == "No acute process."
    assert s["EXAMINATION"] == "CHEST (PA AND LAT)" and s["PREAMBLE"] == "FINAL REPORT"
