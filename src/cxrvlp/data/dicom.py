"""DICOM radiographs → 8-bit grayscale, following the DICOM grayscale pipeline (PS3.3 C.11), with pydicom ≥ 3.

stored value x → Modality LUT (``RescaleSlope · x + RescaleIntercept`` or a Modality LUT Sequence)
→ VOI: a VOI LUT Sequence, else ``WindowCenter``/``WindowWidth`` with ``VOILUTFunction``, else the image's
own min..max → y ∈ [0, 1] → ``round(255 · y)`` → ``MONOCHROME1`` is inverted (255 − value: low values are
white).

12- to 16-bit images therefore come out windowed the way a reading station shows them. Compressed transfer
syntaxes are decoded when pydicom has a decoder installed here; otherwise :class:`DicomError` says which syntax
and which packages would decode it. A truncated file is caught from its header alone (:func:`read_header`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, get_decoder

PIXEL_DATA = 0x7FE00010


class DicomError(OSError):
    """A DICOM file that cannot be turned into an image; ``reason`` is a short category for skip counts."""

    def __init__(self, path: str | Path, reason: str, detail: str = ""):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class DicomHeader:
    """What the adapters need from a DICOM header; reading it does not load the pixel data."""

    path: Path
    rows: int
    columns: int
    view_position: str
    patient_id: str
    sop_instance_uid: str
    photometric: str
    transfer_syntax: str


def read_header(path: str | Path) -> DicomHeader:
    """Read and check a DICOM header: pixel data present, complete on disk, and decodable here."""
    ds = _dcmread(path, defer_size="1 KB")
    _check_pixels(ds, path)
    return DicomHeader(path=Path(path), rows=int(ds.Rows), columns=int(ds.Columns),
                       view_position=str(ds.get("ViewPosition", "")).strip(),
                       patient_id=str(ds.get("PatientID", "")).strip(),
                       sop_instance_uid=str(ds.get("SOPInstanceUID", "")).strip(),
                       photometric=str(ds.get("PhotometricInterpretation", "")).strip(),
                       transfer_syntax=ds.file_meta.TransferSyntaxUID.name)


def read_dicom(path: str | Path) -> np.ndarray:
    """The first frame of a DICOM image as ``uint8 [H, W]`` (see the module docstring for the pipeline)."""
    ds = _dcmread(path)
    _check_pixels(ds, path)
    try:
        pixels = ds.pixel_array
    except Exception as e:  # pydicom raises a mix of ValueError/RuntimeError/NotImplementedError from decoders
        raise DicomError(path, "cannot decode DICOM pixel data", f"{ds.file_meta.TransferSyntaxUID.name}: {e}") from e
    return to_uint8(pixels, ds)


def to_uint8(pixels: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Stored pixel values of ``ds`` → displayed 8-bit grayscale ``[H, W]``."""
    samples = int(ds.get("SamplesPerPixel", 1))
    if pixels.ndim == (4 if samples > 1 else 3):  # multi-frame: the first frame is the radiograph
        pixels = pixels[0]
    if samples > 1:  # colour-encoded radiograph (rare): ITU-R BT.601 luma of the decoded RGB, already 8-bit
        luma = pixels[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.clip(np.round(luma), 0, 255).astype(np.uint8)
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)  # float32: exact for 16-bit integers
    y = voi_unit(values, ds)
    y *= 255.0
    out = np.rint(y, out=y).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        out = 255 - out  # inverted after quantising, so MONOCHROME1 and MONOCHROME2 of one image are exact mirrors
    return out


def voi_unit(values: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Apply the VOI transform of ``ds`` (first LUT / first window when several are given) into [0, 1]."""
    lut = ds.get("VOILUTSequence")
    if lut:
        return apply_lut(values, lut[0])
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        if not width > 0:
            raise DicomError(ds.filename or "<dataset>", "invalid DICOM window", f"WindowWidth {width}")
        return window(values, center, width, str(ds.get("VOILUTFunction", "LINEAR")).strip() or "LINEAR")
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def window(x: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 windowing into [0, 1] (c = center, w = width):

    - ``LINEAR``:       y = clip((x − (c − 0.5)) / (w − 1) + 0.5, 0, 1); for w ≤ 1 a threshold at c − 0.5
    - ``LINEAR_EXACT``: y = clip((x − c) / w + 0.5, 0, 1)
    - ``SIGMOID``:      y = 1 / (1 + exp(−4 (x − c) / w))
    """
    function = function.upper()
    if function == "LINEAR":
        if width <= 1:
            return (x > center - 0.5).astype(np.float64)
        y = x - (center - 0.5)  # in place from here on: radiographs are large
        y /= width - 1
        y += 0.5
        return np.clip(y, 0.0, 1.0, out=y)
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    raise ValueError(f"unknown VOILUTFunction {function!r}; DICOM defines LINEAR, LINEAR_EXACT and SIGMOID")


def apply_lut(x: np.ndarray, item: pydicom.Dataset) -> np.ndarray:
    """A VOI LUT Sequence item: ``y = LUTData[clip(x − first, 0, n − 1)] / (2**bits − 1)`` with
    ``LUTDescriptor = [n (0 means 65536), first, bits]``."""
    n, first, bits = (int(v) for v in item.LUTDescriptor)
    n = n or 65536
    data = item.LUTData
    table = np.frombuffer(data, dtype=np.uint16) if isinstance(data, bytes) else np.asarray(data, dtype=np.float64)
    index = np.clip(np.round(x).astype(np.int64) - first, 0, min(n, len(table)) - 1)
    return table[index].astype(np.float64) / (2.0**bits - 1.0)


def _first(value) -> float:
    return float(value[0]) if isinstance(value, (MultiValue, list, tuple)) else float(value)


def _dcmread(path: str | Path, defer_size: str | None = None) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, defer_size=defer_size)
    except InvalidDicomError as e:
        raise DicomError(path, "not a DICOM file", "no DICM marker after the 128-byte preamble") from e
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated headers raise EOFError, OSError, ValueError, struct.error...
        raise DicomError(path, "unreadable DICOM header", f"{type(e).__name__}: {e}") from e


def _check_pixels(ds: pydicom.Dataset, path: str | Path) -> None:
    if PIXEL_DATA not in ds:
        raise DicomError(path, "DICOM without pixel data")
    for tag in ("Rows", "Columns", "BitsAllocated"):
        if tag not in ds:
            raise DicomError(path, "DICOM header without image size", f"no {tag}")
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise DicomError(path, "DICOM without a transfer syntax", "no (0002,0010) in the file meta header")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DicomError(path, "unsupported DICOM transfer syntax",
                         f"{syntax.name} ({syntax}): pydicom has no decoder for it") from None
    if not decoder.is_available:
        raise DicomError(path, "no decoder installed for the DICOM transfer syntax",
                         f"{syntax.name} ({syntax}); install one of: {'; '.join(decoder.missing_dependencies)}")
    if not syntax.is_compressed:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected = math.ceil(ds.Rows * ds.Columns * frames * int(ds.get("SamplesPerPixel", 1)) * ds.BitsAllocated / 8)
        element = ds.get_item(PIXEL_DATA)
        stored = element.length if hasattr(element, "value_tell") else len(element.value)
        on_disk = stored
        if hasattr(element, "value_tell"):
            on_disk = min(stored, max(0, Path(path).stat().st_size - element.value_tell))
        if on_disk < expected:
            raise DicomError(path, "truncated DICOM pixel data", f"{on_disk} of {expected} bytes")
