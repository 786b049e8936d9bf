"""DICOM → 8-bit: MONOCHROME1, rescale + window on 12-bit data, VOI LUT, and clear errors for files we cannot read."""
import numpy as np
import pydicom
import pytest
import torch

from _layouts import truncate, write_dicom
from cxrvlp.data.dicom import DicomError, read_dicom, read_header, window
from cxrvlp.data.image_files import image_problem
from cxrvlp.data.transforms import load_gray


def _gradient() -> np.ndarray:
    return np.array([[10, 50, 100], [150, 200, 105]], dtype=np.uint8)


def test_monochrome2_without_window_is_min_max_scaled(tmp_path):
    out = read_dicom(write_dicom(tmp_path / "a.dcm", _gradient()))
    expected = np.round((_gradient().astype(float) - 10) / 190 * 255)
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


def test_monochrome1_is_inverted(tmp_path):
    m2 = read_dicom(write_dicom(tmp_path / "m2.dcm", _gradient()))
    m1 = read_dicom(write_dicom(tmp_path / "m1.dcm", _gradient(), photometric="MONOCHROME1"))
    assert np.array_equal(m1.astype(int), 255 - m2.astype(int))
    assert m1[0, 0] == 255  # the lowest stored value is displayed white


def test_12_bit_rescale_and_window_by_the_dicom_formula(tmp_path):
    # v = 2x - 1024; window c=1000, w=2001: y = clip((v - 999.5) / 2000 + 0.5, 0, 1)
    x = np.array([[12, 762, 1012, 2012]], dtype=np.uint16)  # v = -1000, 500, 1000, 3000
    path = write_dicom(tmp_path / "w.dcm", x, bits_stored=12, rescale=(2, -1024), window=(1000, 2001))
    assert read_dicom(path).tolist() == [[0, 64, 128, 255]]
    inverted = write_dicom(tmp_path / "w1.dcm", x, bits_stored=12, rescale=(2, -1024), window=(1000, 2001),
                           photometric="MONOCHROME1")
    assert read_dicom(inverted).tolist() == [[255, 191, 127, 0]]


def test_16_bit_without_window_uses_the_full_dynamic_range(tmp_path):
    x = np.array([[1000, 33000, 65000]], dtype=np.uint16)
    assert read_dicom(write_dicom(tmp_path / "h.dcm", x)).tolist() == [[0, 128, 255]]


def test_voi_lut_sequence_and_sigmoid(tmp_path):
    x = np.array([[9, 10, 11, 13, 20]], dtype=np.uint16)
    lut = write_dicom(tmp_path / "lut.dcm", x, bits_stored=12, voi_lut=([4, 10, 8], np.array([0, 100, 200, 255])))
    assert read_dicom(lut).tolist() == [[0, 0, 100, 255, 255]]
    assert window(np.array([100.0]), 100, 50, "SIGMOID")[0] == pytest.approx(0.5)
    assert window(np.array([90.0, 110.0]), 100, 20, "LINEAR_EXACT").tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="VOILUTFunction"):
        window(np.array([1.0]), 0, 1, "GAMMA")


def test_rle_compressed_dicom_decodes_like_the_uncompressed_one(tmp_path):
    from pydicom.uid import RLELossless

    plain = write_dicom(tmp_path / "plain.dcm", _gradient())
    ds = pydicom.dcmread(plain)
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    assert np.array_equal(read_dicom(tmp_path / "rle.dcm"), read_dicom(plain))


def test_load_gray_dispatches_dicom_by_suffix(tmp_path):
    path = write_dicom(tmp_path / "x.dcm", _gradient(), photometric="MONOCHROME1")
    img = load_gray(path)
    assert img.shape == (1, 2, 3) and img.dtype == torch.float32
    assert torch.allclose(img[0], torch.from_numpy(read_dicom(path).astype(np.float32) / 255))


def test_header_gives_view_size_patient(tmp_path):
    h = read_header(write_dicom(tmp_path / "x.dcm", _gradient(), view="AP", patient_id="p7", sop_uid="1.2.3.4"))
    assert (h.rows, h.columns, h.view_position, h.patient_id, h.sop_instance_uid) == (2, 3, "AP", "p7", "1.2.3.4")


def test_unsupported_transfer_syntax_is_a_clear_error(tmp_path):
    path = write_dicom(tmp_path / "mpeg.dcm", _gradient(), transfer_syntax="1.2.840.10008.1.2.4.100",
                       pixel_bytes=b"\x00" * 8)
    with pytest.raises(DicomError, match=r"unsupported DICOM transfer syntax.*MPEG2"):
        read_dicom(path)
    assert image_problem(path) == "unsupported DICOM transfer syntax"


def test_compressed_syntax_without_a_decoder_names_the_packages(tmp_path):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    path = write_dicom(tmp_path / "jls.dcm", _gradient(), transfer_syntax=JPEGLSLossless, pixel_bytes=b"\xff\xd8" * 4)
    with pytest.raises(DicomError, match=r"no decoder installed.*JPEG-LS.*install one of: .*pylibjpeg"):
        load_gray(path)


def test_not_a_dicom_and_truncated_dicom(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"this is not a dicom file" * 10)
    with pytest.raises(DicomError, match="bad.dcm: not a DICOM file"):
        read_dicom(bad)
    cut = truncate(write_dicom(tmp_path / "cut.dcm", np.zeros((64, 64), np.uint16) + 7), keep=0.7)
    assert image_problem(cut) == "truncated DICOM pixel data"
    with pytest.raises(OSError, match=r"cut.dcm: truncated DICOM pixel data \(\d+ of 8192 bytes\)"):
        load_gray(cut)
