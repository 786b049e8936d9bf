"""SIIM-ACR Pneumothorax: the relative column-major RLE (decode/encode round trip) and the train-rle.csv layout."""
import numpy as np
import pytest

from _layouts import write_dicom, write_text
from cxrvlp.data.masks import read_mask
from cxrvlp.data.rle import rle_decode, rle_encode
from cxrvlp.data.siim_acr import pneumothorax_mask, read_siim_acr
from cxrvlp.data.skips import SkipLog


def _reference_decode(rle: str, height: int, width: int) -> np.ndarray:
    """The challenge's published decoder, step by step: walk a position, add each start, fill each run."""
    flat = np.zeros(height * width, dtype=bool)
    values = [int(v) for v in rle.split()]
    position = 0
    for start, length in zip(values[0::2], values[1::2]):
        position += start
        flat[position : position + length] = True
        position += length
    return flat.reshape(width, height).T


def test_rle_by_hand():
    mask = np.array([[0, 1], [1, 1], [0, 0]], dtype=bool)  # column-major: 0 1 0 | 1 1 0
    assert rle_encode(mask, relative=False) == "1 1 3 2"
    assert rle_encode(mask) == "1 1 1 2"
    assert np.array_equal(rle_decode("1 1 1 2", 3, 2), mask)
    assert rle_encode(np.zeros((4, 4), bool)) == "-1" and not rle_decode(" -1", 4, 4).any()


@pytest.mark.parametrize("relative", [True, False])
def test_rle_round_trip_and_matches_the_reference(relative):
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = rng.integers(1, 40, size=2)
        mask = rng.random((h, w)) < rng.random()
        rle = rle_encode(mask, relative=relative)
        assert np.array_equal(rle_decode(rle, h, w, relative=relative), mask)
        if relative and mask.any():
            assert np.array_equal(_reference_decode(rle, h, w), mask)


def test_rle_errors():
    with pytest.raises(ValueError, match="pairs"):
        rle_decode("1 2 3", 4, 4)
    with pytest.raises(ValueError, match="past the last pixel"):
        rle_decode("10 7", 4, 4)


SOP = {name: f"1.2.276.0.7230010.3.1.4.8323329.{i}.1517875188.959090" for i, name in
       enumerate(["neg", "two", "bad_rle", "mixed", "missing"])}


@pytest.fixture()
def siim(tmp_path):
    root = tmp_path / "siim-acr-pneumothorax"
    two_a, two_b = np.zeros((32, 24), bool), np.zeros((32, 24), bool)
    two_a[2:6, 3:5], two_b[20:30, 10:12] = True, True
    rows = [f"{SOP['neg']}, -1", f"{SOP['two']}, {rle_encode(two_a)}", f"{SOP['two']}, {rle_encode(two_b)}",
            f"{SOP['bad_rle']}, 700 200", f"{SOP['mixed']}, -1", f"{SOP['mixed']}, 1 2", f"{SOP['missing']}, -1"]
    write_text(root / "train-rle.csv", "ImageId, EncodedPixels\n" + "\n".join(rows) + "\n")
    for i, name in enumerate(["neg", "two", "bad_rle", "mixed"]):
        folder = root / "dicom-images-train" / f"1.2.276.0.7230010.3.1.2.{i}" / f"1.2.276.0.7230010.3.1.3.{i}"
        write_dicom(folder / f"{SOP[name]}.dcm", np.full((32, 24), 60, np.uint8), view="PA", patient_id=f"pat-{i}",
                    sop_uid=SOP[name])
    return root, two_a | two_b


def test_reads_leading_space_header_instances_and_masks(siim, tmp_path):
    root, union = siim
    skips = SkipLog()
    studies = {s.study_id: s for s in read_siim_acr(root, skips=skips, mask_dir=tmp_path / "masks", progress=False)}
    assert sorted(studies) == [SOP["neg"], SOP["two"]]
    two = studies[SOP["two"]]
    assert two.labels == {"Pneumothorax": 1.0} and len(two.meta["rle"]) == 2 and two.patient_id == "pat-1"
    assert np.array_equal(pneumothorax_mask(two), union)
    assert np.array_equal(read_mask(two.frontal[0].masks["pneumothorax"]), union)
    assert studies[SOP["neg"]].labels == {"Pneumothorax": 0.0} and not pneumothorax_mask(studies[SOP["neg"]]).any()
    assert skips.counts == {"malformed RLE": 1, "image with both -1 and mask rows": 1, "missing image file": 1}
    assert skips.examples["malformed RLE"][0].startswith("train-rle.csv:5 (RLE run ends past the last pixel")
