"""Speed of the data adapters on ../shared/data (studies/s, all file checks included) and of DICOM → 8-bit decoding.

Run: ``python benchmarks/adapters.py [--shared ../shared/data] [--dicom-size 2048]``; prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from cxrvlp.data.adapters import get_adapter
from cxrvlp.data.dicom import read_dicom
from cxrvlp.data.skips import SkipLog

SHARED = ("covid_cxr_notes", "covid_cxr_segmentations", "covid_cxr_v7_lungs", "iu_xray_reports", "jsrt_lungs",
          "montgomery_lungs", "shenzhen_tb")


def adapter_speed(shared: Path) -> dict:
    out = {}
    for name in SHARED:
        skips = SkipLog()
        start = time.perf_counter()
        studies = list(get_adapter(name).read(shared / name, splits=("train", "validate", "test"), skips=skips))
        seconds = time.perf_counter() - start
        out[name] = {"studies": len(studies), "skipped": skips.total, "seconds": round(seconds, 3),
                     "studies_per_s": round(len(studies) / seconds, 1)}
    return out


def dicom_speed(size: int, repeats: int = 20) -> dict:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 16, 12, 11, 0, 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.WindowCenter, ds.WindowWidth, ds.RescaleSlope, ds.RescaleIntercept = 2048, 4000, 1, 0
    ds.PixelData = np.random.default_rng(0).integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.dcm"
        ds.save_as(path, enforce_file_format=True)
        read_dicom(path)
        start = time.perf_counter()
        for _ in range(repeats):
            read_dicom(path)
        seconds = time.perf_counter() - start
    return {"size": f"{size}x{size} 12-bit windowed MONOCHROME1", "images_per_s": round(repeats / seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--dicom-size", type=int, default=2048)
    args = parser.parse_args()
    result = {"machine": platform.processor() or platform.machine(), "dicom_decode": dicom_speed(args.dicom_size)}
    if args.shared.is_dir():
        result["shared_adapters"] = adapter_speed(args.shared)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
