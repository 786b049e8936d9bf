"""Every ../shared/data folder through its registered adapter: counts as its README states, patient-disjoint splits
(also across folders that share patients), and masks the size of their images."""
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from cxrvlp.data.adapters import get_adapter
from cxrvlp.data.masks import read_mask
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import crossing_patients

pytestmark = pytest.mark.shared_data
SPLITS = ("train", "validate", "test")


def _read(shared_data, name, **kwargs):
    skips = SkipLog()
    studies = list(get_adapter(name).read(shared_data / name, splits=SPLITS, skips=skips, **kwargs))
    assert not crossing_patients(studies)
    return studies, skips


def _images(studies):
    return [r for s in studies for r in s.frontal + s.lateral]


def _assert_masks_align(studies) -> int:
    n = 0
    for record in _images(studies):
        with Image.open(record.path) as im:
            size = im.size
        for mask in record.masks.values():
            with Image.open(mask) as m:
                assert m.size == size, f"{mask} is {m.size}, its image {record.path} is {size}"
            n += 1
    return n


def test_covid_cxr_notes(shared_data):
    studies, skips = _read(shared_data, "covid_cxr_notes", require_report=False)
    # README: 652 studies (patient + day), 42 with both views; views PA 312, AP 265, lateral 55, unknown 76
    assert len(studies) + skips.counts["study without a usable frontal image"] == 652
    assert sum(1 for s in studies if s.frontal and s.lateral) == 42
    assert Counter(r.view for s in studies for r in s.frontal) == {"PA": 312, "AP": 265}
    assert skips.counts["unknown view code"] == 76
    # README: 310 lung boxes (6 flagged as drawn on a differently sized image), 192 lungVAE masks, 93 severity rows
    assert sum(len(r.boxes) for r in _images(studies)) + skips.counts[
        "lung box drawn on a differently sized image (flagged upstream)"] == 310
    assert _assert_masks_align(studies) == 192
    assert sum(len(s.meta.get("severity", {})) for s in studies) == 93
    with_text, _ = _read(shared_data, "covid_cxr_notes")
    assert len(with_text) == 460 and all(s.report_text() for s in with_text)  # 540 studies have text, 460 a frontal
    assert {s.split for s in with_text} == set(SPLITS)


def test_covid_cxr_segmentations_shares_patients_and_splits_with_notes(shared_data):
    studies, skips = _read(shared_data, "covid_cxr_segmentations")
    assert len(studies) == 100 and not skips.counts
    per_class = Counter(name for r in _images(studies) for name in r.masks)
    assert per_class == {"cardiomediastinum": 100, "left_lung": 99, "right_lung": 99, "airways": 99,
                         "ground_glass_opacities": 93, "consolidation": 32, "pleural_effusion": 2, "pneumothorax": 1,
                         "tubings": 16, "endotracheal_tube": 13, "monitoring_probes": 12, "central_venous_line": 11,
                         "nasogastric_tube": 10}
    assert Counter(s.frontal[0].view for s in studies) == {"PA": 93, "AP": 7}
    assert _assert_masks_align(studies) == sum(per_class.values())
    notes, _ = _read(shared_data, "covid_cxr_notes", require_report=False)
    assert not crossing_patients(studies + notes)
    assert len({s.patient_id for s in studies} & {s.patient_id for s in notes}) > 30


def test_covid_cxr_v7_lungs(shared_data):
    studies, skips = _read(shared_data, "covid_cxr_v7_lungs")
    assert len(studies) == 427 and skips.counts == {
        "image without lung polygons (V7 leaves laterals unsegmented)": 24}
    assert Counter(s.frontal[0].view for s in studies) == {"PA": 216, "AP": 211}  # PA 216, AP Supine 120, AP 91
    assert sum("ignore" in s.frontal[0].masks for s in studies) == 52
    assert _assert_masks_align(studies) == 2 * 427 + 52
    masks = studies[0].frontal[0].masks
    assert np.array_equal(read_mask(masks["lung_lr"], 1) | read_mask(masks["lung_lr"], 2), read_mask(masks["lung"]))
    notes, _ = _read(shared_data, "covid_cxr_notes", require_report=False)
    assert not crossing_patients(studies + notes)


def test_iu_xray_reports(shared_data):
    studies, skips = _read(shared_data, "iu_xray_reports")
    # README: 3,851 reports, 7,466 image entries (no images here), R2Gen split train 2,069 / val 296 / test 590
    assert len(studies) + skips.counts["study without report text"] == 3851
    assert skips.counts["missing image file"] == 7466
    r2gen = Counter(s.split for s in studies if s.meta["split_source"] == "r2gen")
    assert r2gen == {"train": 2069, "validate": 296, "test": 590}
    assert all(s.sections.get("FINDINGS") or s.sections.get("IMPRESSION") for s in studies)
    assert Counter(t for s in studies for t in s.meta["problems"])["Cardiomegaly"] > 300


def test_jsrt_lungs(shared_data):
    studies, skips = _read(shared_data, "jsrt_lungs")
    # README: 247 images, 154 with a nodule (100 malignant), HybridGNet split 174/21/51 + 1 discarded nodule image
    assert skips.counts == {"image outside the HybridGNet split": 1}
    assert Counter(s.split for s in studies) == {"train": 174, "validate": 21, "test": 51}
    assert sum(s.labels["Nodule"] for s in studies) == 153 and len(studies) == 246
    assert sum(s.labels["Malignant Nodule"] for s in studies) <= 100
    assert _assert_masks_align(studies) == 246
    scr = studies[0].frontal[0].masks["scr"]
    assert set(np.unique(np.asarray(Image.open(scr)))) == set(range(4))
    assert read_mask(scr, studies[0].meta["mask_values"]["scr"]["heart"]).any()


@pytest.mark.parametrize("name, n, tb, masked", [("montgomery_lungs", 138, 58, 138), ("shenzhen_tb", 662, 336, 566)])
def test_nlm_tb_sets(shared_data, name, n, tb, masked):
    studies, skips = _read(shared_data, name)
    assert len(studies) == n and not skips.counts
    assert sum(s.labels["Tuberculosis"] for s in studies) == tb
    assert sum("lung" in s.frontal[0].masks for s in studies) == masked
    assert _assert_masks_align(studies) == 2 * masked
    assert {s.split for s in studies} == set(SPLITS)
