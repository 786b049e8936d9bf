"""The helpers all adapters share: release tables, patient-hash splits, view codes, image checks."""
from collections import Counter

import pytest

from _layouts import truncate, write_image, write_text
from cxrvlp.data.assemble import normalise_view
from cxrvlp.data.image_files import FileIndex, image_problem
from cxrvlp.data.skips import SkipLog
from cxrvlp.data.splits import holdout_split, patient_split, unit_hash
from cxrvlp.data.tables import parse_label, read_rows


def test_read_rows_copes_with_release_quirks(tmp_path):
    path = write_text(tmp_path / "t.csv", "\ufeff# a comment\n## another\nImageId, EncodedPixels,,\n"
                                          'a, -1,,\nb,"1 2\n3 4",,\nshort\n\nc, 5 6,,\n')
    skips = SkipLog()
    rows = read_rows(path, {"ImageId", "EncodedPixels"}, "test release", skips=skips)
    assert rows == [(4, {"ImageId": "a", "EncodedPixels": "-1"}), (5, {"ImageId": "b", "EncodedPixels": "1 2\n3 4"}),
                    (9, {"ImageId": "c", "EncodedPixels": "5 6"})]
    assert skips.examples["malformed row"] == ["t.csv:7 (1 cells, header has 2)"]
    with pytest.raises(ValueError, match=r"t.csv, line 7: 1 cells, the header has 2"):
        read_rows(path, {"ImageId"}, "test release")
    with pytest.raises(ValueError, match=r"t.csv, line 3: missing column\(s\) \['Target'\] of the test release"):
        read_rows(path, {"Target"}, "test release")


@pytest.mark.parametrize("cell, value", [("", None), ("nan", None), ("NaN", None), (" -1.0 ", -1.0), ("1", 1.0)])
def test_parse_label(cell, value):
    assert parse_label(cell) == value


def test_patient_split_is_deterministic_and_close_to_the_fractions():
    ids = [f"patient{i}" for i in range(10000)]
    counts = Counter(patient_split(p, seed=1, fractions=(0.7, 0.1, 0.2)) for p in ids)
    assert abs(counts["train"] / 1e4 - 0.7) < 0.02 and abs(counts["test"] / 1e4 - 0.2) < 0.02
    assert [patient_split(p, seed=1) for p in ids[:50]] == [patient_split(p, seed=1) for p in ids[:50]]
    assert [patient_split(p, seed=1) for p in ids[:50]] != [patient_split(p, seed=2) for p in ids[:50]]
    assert {holdout_split(p, 0.25) for p in ids[:200]} == {"train", "validate"}
    assert 0 <= unit_hash("x") < 1
    with pytest.raises(ValueError, match="summing to 1"):
        patient_split("p", fractions=(0.5, 0.5, 0.5))


@pytest.mark.parametrize("raw, code", [("AP Supine", "AP"), ("AP erect", "AP"), ("L", "LATERAL"), ("LAT", "LATERAL"),
                                       ("Frontal", "FRONTAL"), ("pa", "PA"), ("LL", "LL"), ("", ""), ("?", "?")])
def test_normalise_view(raw, code):
    assert normalise_view(raw) == code


def test_image_problem_reads_only_head_and_tail(tmp_path):
    assert image_problem(write_image(tmp_path / "ok.jpg")) is None
    assert image_problem(write_image(tmp_path / "ok.png")) is None
    assert image_problem(truncate(write_image(tmp_path / "cut.jpg"))) == "truncated JPEG (no end-of-image marker)"
    assert image_problem(truncate(write_image(tmp_path / "cut.png"))) == "truncated PNG (no IEND chunk)"
    assert image_problem(write_text(tmp_path / "fake.jpg", "hello")) == "not a JPEG file"
    assert image_problem(write_text(tmp_path / "empty.png", "")) == "empty image file"
    assert image_problem(tmp_path / "nope.png") == "missing image file"


def test_file_index_by_name_reports_duplicates(tmp_path):
    write_image(tmp_path / "a" / "x.png")
    write_image(tmp_path / "b" / "x.png")
    write_image(tmp_path / "b" / "y.jpg")
    index = FileIndex(tmp_path)
    assert index.get("x.png") == tmp_path / "a" / "x.png" and index.get("y.jpg") is not None
    assert index.duplicates == [tmp_path / "b" / "x.png"] and len(index) == 2
