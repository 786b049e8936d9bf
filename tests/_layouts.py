"""Helpers the adapter tests use to build official release layouts: tiny images, DICOMs, exact CSV text."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, value: int = 128, size: tuple[int, int] = (16, 12)) -> Path:
    """A tiny grayscale image (JPEG or PNG from the suffix) of height, width = ``size``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full(size, value, np.uint8)
    arr[: size[0] // 2] //= 2  # not constant, so JPEG writes real entropy-coded data
    Image.fromarray(arr).save(path)
    return path


def truncate(path: Path, keep: float = 0.6) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` byte for byte (headers with their quirks: leading spaces, trailing commas)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
                view: str = "PA", patient_id: str = "patient", sop_uid: str | None = None,
                window: tuple[float, float] | None = None, voi_function: str | None = None,
                rescale: tuple[float, float] | None = None, voi_lut: tuple[list[int], np.ndarray] | None = None,
                transfer_syntax: str | None = None, pixel_bytes: bytes | None = None) -> Path:
    """A minimal valid DICOM file (Secondary Capture) holding ``pixels`` (uint8 or uint16)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    pixels = np.asarray(pixels)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax) if transfer_syntax else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid) if sop_uid else generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.ViewPosition, ds.Modality = patient_id, view, "CR"
    ds.Rows, ds.Columns = pixels.shape
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated, ds.BitsStored = bits, bits_stored or bits
    ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = ds.BitsStored - 1, 0, 1
    ds.PhotometricInterpretation = photometric
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function is not None:
        ds.VOILUTFunction = voi_function
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if voi_lut is not None:
        item = Dataset()
        item.LUTDescriptor = voi_lut[0]
        item.add_new(0x00283006, "US", [int(v) for v in voi_lut[1]])  # LUTData
        ds.VOILUTSequence = [item]
    if pixel_bytes is not None:
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate([pixel_bytes])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
