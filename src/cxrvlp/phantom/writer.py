"""Writing a phantom data set in the MIMIC-CXR-JPG 2.x layout, and :func:`generate`, the entry point.

Layout under ``out_dir`` (MIMIC's file and column names)::

    files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg     8-bit grayscale JPEG
    files/pXX/pNNNNNNNN/sNNNNNNNN.txt                free-text report
    masks/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>_<finding>.png
    masks/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>_anatomy_<structure>.png      (1-bit; spaces in the name as "_")
    mimic-cxr-2.0.0-metadata.csv, -split.csv, -chexpert.csv
    phantom_ground_truth.jsonl, phantom_manifest.json

Patients are generated in parallel (each worker writes its own patients' files); the tables are assembled in
patient order, so the bytes do not depend on the number of workers.
"""
from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from .cohort import PlannedPatient, plan, simulate_patient
from .findings import FINDINGS
from .reports import CHEXPERT

# 1.1: no "seen on the lateral view, better seen on the lateral view"; 1.2: anatomy masks (images and reports as 1.1)
GENERATOR_VERSION = "1.2"
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
                    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning")
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
CHEXPERT_COLUMNS = ("subject_id", "study_id", *CHEXPERT)
VIEW_MEANING = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral"}
MANIFEST = "phantom_manifest.json"


def generate(out_dir, n_studies: int, seed: int = 0, image_size: int = 256, lateral_fraction: float = 0.8,
             normal_fraction: float = 0.4, workers: int = 1, progress: bool = True) -> Path:
    """Generate ``n_studies`` phantom chest X-ray studies in the MIMIC-CXR-JPG layout under ``out_dir``.

    The same arguments give byte-identical files whatever ``workers`` is. Re-running into a directory that holds
    the same configuration overwrites it; any other non-empty directory is refused.
    """
    out = Path(out_dir)
    config = _check(out, n_studies, seed, image_size, lateral_fraction, normal_fraction, workers)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / MANIFEST, {**config, "complete": False})
    patients = plan(seed, n_studies, lateral_fraction, normal_fraction)
    tasks = [(seed, pp, image_size, str(out)) for pp in patients]
    results = []
    with _progress(progress, n_studies) as advance:
        if workers == 1:
            with _single_threaded_blas():
                for t in tasks:
                    results.append(_run_patient(t))
                    advance(len(t[1].studies))
        else:
            with get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
                for t, res in zip(tasks, pool.imap(_run_patient, tasks, chunksize=2)):
                    results.append(res)
                    advance(len(t[1].studies))
    rows = {k: [r for res in results for r in res[k]] for k in ("metadata", "split", "chexpert", "truth")}
    _write_csv(out / "mimic-cxr-2.0.0-metadata.csv", METADATA_COLUMNS, rows["metadata"])
    _write_csv(out / "mimic-cxr-2.0.0-split.csv", SPLIT_COLUMNS, rows["split"])
    _write_csv(out / "mimic-cxr-2.0.0-chexpert.csv", CHEXPERT_COLUMNS, rows["chexpert"])
    with open(out / "phantom_ground_truth.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for rec in rows["truth"]:
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    truths = [r["labels"] for r in rows["truth"]]
    prevalence = {f: round(sum(t[f] for t in truths) / len(truths), 4) for f in FINDINGS}
    normal = round(sum(not any(t.values()) for t in truths) / len(truths), 4)
    splits = {s: sum(r["split"] == s for r in rows["truth"]) for s in ("train", "validate", "test")}
    _write_json(out / MANIFEST, {**config, "n_patients": len(patients), "n_images": len(rows["metadata"]),
                                 "normal_share": normal, "prevalence": prevalence, "studies_per_split": splits,
                                 "complete": True})
    return out


def _check(out: Path, n_studies, seed, image_size, lateral_fraction, normal_fraction, workers) -> dict:
    if isinstance(n_studies, bool) or not isinstance(n_studies, (int, np.integer)) or n_studies < 1:
        raise ValueError(f"n_studies must be a positive integer, got {n_studies!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(image_size, (int, np.integer)) or not 64 <= image_size <= 2048:
        raise ValueError(f"image_size must be an integer in [64, 2048], got {image_size!r}")
    for name, v in (("lateral_fraction", lateral_fraction), ("normal_fraction", normal_fraction)):
        if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v!r}")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    config = {"generator": "cxrvlp.phantom", "version": GENERATOR_VERSION, "seed": int(seed),
              "n_studies": int(n_studies), "image_size": int(image_size),
              "lateral_fraction": float(lateral_fraction), "normal_fraction": float(normal_fraction)}
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"{out} exists and is not a directory")
        if any(out.iterdir()):
            try:
                old = json.loads((out / MANIFEST).read_text())
            except (OSError, ValueError):
                raise FileExistsError(f"{out} is not empty and holds no phantom manifest; choose an empty or new "
                                      f"directory") from None
            old = {k: old.get(k) for k in config}
            if old != config:
                diff = ", ".join(f"{k}: {old[k]!r} -> {config[k]!r}" for k in config if old[k] != config[k])
                raise FileExistsError(f"{out} holds a different phantom run ({diff}); use another directory")
    return config


def _single_threaded_blas():
    """Small matrix products are faster without BLAS threads, which also oversubscribe the workers."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _init_worker() -> None:
    _single_threaded_blas()


def _run_patient(task) -> dict:
    seed, pp, image_size, out_dir = task
    return write_patient(Path(out_dir), seed, pp, image_size)


def write_patient(out: Path, seed: int, pp: PlannedPatient, image_size: int) -> dict:
    """Generate and write one patient's studies; return their table rows."""
    rows = {"metadata": [], "split": [], "chexpert": [], "truth": []}
    sid = pp.subject_id
    pdir = Path("files") / f"p{str(sid)[:2]}" / f"p{sid}"
    for st in simulate_patient(seed, pp, image_size):
        ps = st["planned"]
        sdir = pdir / f"s{ps.study_id}"
        mdir = Path("masks") / sdir.relative_to("files")
        (out / sdir).mkdir(parents=True, exist_ok=True)
        lateral = "LAT" in st["views"]
        proc = ("CHEST (PORTABLE AP)" if st["views"]["PA"] == "AP" else
                "CHEST (PA AND LAT)" if lateral else "CHEST (SINGLE VIEW)")
        images = {}
        for v, pos in st["views"].items():
            did = st["ids"][v]
            img = st["images"][v]
            _save(out / sdir / f"{did}.jpg", img, "JPEG")
            images[did] = pos
            rows["metadata"].append({
                "dicom_id": did, "subject_id": sid, "study_id": ps.study_id, "PerformedProcedureStepDescription": proc,
                "ViewPosition": pos, "Rows": img.shape[0], "Columns": img.shape[1], "StudyDate": ps.date,
                "StudyTime": ps.time, "ProcedureCodeSequence_CodeMeaning": proc,
                "ViewCodeSequence_CodeMeaning": VIEW_MEANING[pos],
                "PatientOrientationCodeSequence_CodeMeaning": "Recumbent" if pos == "AP" else "Erect"})
            rows["split"].append({"dicom_id": did, "study_id": ps.study_id, "subject_id": sid, "split": pp.split})
        (out / pdir / f"s{ps.study_id}.txt").write_text(st["report"], encoding="utf-8")
        rows["chexpert"].append({"subject_id": sid, "study_id": ps.study_id,
                                 **{c: "" if v is None else f"{v:.1f}" for c, v in st["chexpert"].items()}})
        found = []
        for f in st["findings"]:
            per_view = {}
            for v in st["views"]:
                fv = st["footprints"][f.name][v]
                did = st["ids"][v]
                mask_rel = None
                if fv.visible:
                    (out / mdir).mkdir(parents=True, exist_ok=True)
                    mask_rel = (mdir / f"{did}_{f.name}.png").as_posix()
                    _save(out / mask_rel, fv.mask.astype(np.uint8) * 255, "PNG")
                per_view[did] = {"visible": fv.visible, "box": fv.box if fv.visible else None, "mask": mask_rel}
            found.append({**f.to_json(), "views": per_view})
        anatomy = {}
        (out / mdir).mkdir(parents=True, exist_ok=True)
        for v in st["views"]:
            did = st["ids"][v]
            anatomy[did] = {}
            for name, per_view in st["anatomy"].items():
                av = per_view[v]
                if av.box is None:
                    continue
                mask_rel = (mdir / f"{did}_anatomy_{name.replace(' ', '_')}.png").as_posix()
                _save(out / mask_rel, av.mask, "PNG1")
                anatomy[did][name] = {"box": av.box, "mask": mask_rel}
        rows["truth"].append({"subject_id": sid, "study_id": ps.study_id, "split": pp.split,
                              "labels": {n: int(any(f.name == n for f in st["findings"])) for n in FINDINGS},
                              "findings": found, "anatomy": anatomy, "images": images,
                              "report": (pdir / f"s{ps.study_id}.txt").as_posix()})
    return rows


def _save(path: Path, img: np.ndarray, fmt: str) -> None:
    buf = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(img, "L").save(buf, "JPEG", quality=95)
    elif fmt == "PNG1":
        buf.write(png_1bit(img))
    else:
        Image.fromarray(img, "L").save(buf, "PNG")
    path.write_bytes(buf.getvalue())


def png_1bit(mask: np.ndarray) -> bytes:
    """A bool mask as a 1-bit grayscale PNG (what PIL writes for mode "1", encoded here in a fraction of its time:
    the phantom writes a few dozen anatomy masks per study)."""
    h, w = mask.shape
    rows = np.packbits(np.asarray(mask, dtype=bool), axis=1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter byte 0 (none) per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _write_csv(path: Path, columns, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


class _progress:
    """A rich progress bar over studies (or nothing)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled and total > 0, total

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), transient=False)
        self.bar.start()
        task = self.bar.add_task("phantom studies", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()
        return False

