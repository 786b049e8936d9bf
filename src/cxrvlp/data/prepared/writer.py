"""Main-process side of ``cxrvlp data prepare``: assemble one shard in a temporary folder and commit it by rename."""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cxrvlp.data.prepared.format import FORMAT, FORMAT_VERSION, IMAGES, INDEX, MASKS, TMP_PREFIX, write_json_atomic
from cxrvlp.data.prepared.resize import ResizedImage
from cxrvlp.data.study import Study


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def shard_entry(index: dict, index_sha256: str) -> dict:
    """A shard's line in the manifest."""
    return {"name": index["name"], "studies": len(index["studies"]), "images": index["images"]["rows"],
            "masks": index["masks"]["rows"], "sha256": index_sha256}


class ShardWriter:
    """One shard, built in ``shards/.tmp-NAME-PID/``; :meth:`commit` renames it to ``shards/NAME/``, so a shard
    folder is either complete or absent, whenever the run is interrupted."""

    def __init__(self, shards_dir: Path, name: str, size: int, studies: list[Study]):
        self.final = shards_dir / name
        self.tmp = shards_dir / f"{TMP_PREFIX}{name}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        records = [r for s in studies for r in (*s.frontal, *s.lateral)]
        n_masks = sum(len(r.masks) for r in records)
        self.images = np.lib.format.open_memmap(self.tmp / IMAGES, "w+", np.uint8, (len(records), size, size))
        self.masks = np.lib.format.open_memmap(self.tmp / MASKS, "w+", np.uint8, (n_masks, size, size))
        self.n_images = self.n_masks = 0
        self.studies: list[dict] = []
        self.skipped: list[tuple[str, str]] = []  # (reason, where)

    def _write_record(self, record, resized: ResizedImage) -> dict:
        row, self.n_images = self.n_images, self.n_images + 1
        self.images[row] = resized.pixels
        masks = {}
        for label, error in resized.mask_errors.items():
            self.skipped.append(("unreadable mask", error))
        for label, pixels in resized.masks.items():
            masks[label], self.n_masks = self.n_masks, self.n_masks + 1
            self.masks[masks[label]] = pixels
        geo = resized.geometry
        return {"row": row, "view": record.view, "image_id": record.image_id, "source": str(record.path),
                "original_size": [geo.height, geo.width], "boxes": [asdict(geo.map_box(b)) for b in record.boxes],
                "masks": masks, "mask_sources": {k: str(record.masks[k]) for k in masks}}

    def add(self, study: Study, resized: list[ResizedImage]) -> None:
        """Add a study from its :func:`~cxrvlp.data.prepared.resize.resize_study` result; unreadable images are
        listed, and a study left without a readable frontal image is skipped (and listed) as a whole."""
        views = {"frontal": list(zip(study.frontal, resized[: len(study.frontal)])),
                 "lateral": list(zip(study.lateral, resized[len(study.frontal):]))}
        for record, res in (*views["frontal"], *views["lateral"]):
            if res.pixels is None:
                self.skipped.append(("unreadable image", res.error))
        if all(res.pixels is None for _, res in views["frontal"]):
            self.skipped.append(("study without a readable frontal image",
                                 f"study {study.study_id} ({', '.join(str(r.path) for r in study.frontal)})"))
            return
        self.studies.append({
            "patient_id": study.patient_id, "study_id": study.study_id, "split": study.split,
            "sections": study.sections, "labels": study.labels, "meta": study.meta,
            **{kind: [self._write_record(rec, res) for rec, res in pairs if res.pixels is not None]
               for kind, pairs in views.items()}})

    def _close_array(self, attr: str, rows: int, filename: str) -> dict:
        """Flush and unmap an array; if unreadable inputs left rows unused, rewrite it with the used rows only."""
        arr = getattr(self, attr)
        arr.flush()
        used = np.array(arr[:rows]) if rows < len(arr) else None
        delattr(self, attr)
        del arr
        if used is not None:
            np.save(self.tmp / filename, used)
        return {"rows": rows, "sha256": file_sha256(self.tmp / filename)}

    def commit(self, header: dict) -> dict:
        """Write the index, rename the folder into place (replacing a stale shard) and return the shard's
        manifest entry, whose ``sha256`` (of ``index.json``, which holds the arrays' hashes) covers all its files."""
        index = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.final.name, **header,
                 "images": self._close_array("images", self.n_images, IMAGES),
                 "masks": self._close_array("masks", self.n_masks, MASKS),
                 "studies": self.studies, "skipped": self.skipped}
        write_json_atomic(self.tmp / INDEX, index)
        entry = shard_entry(index, file_sha256(self.tmp / INDEX))
        stale = None
        if self.final.exists():
            stale = self.final.with_name(f"{TMP_PREFIX}stale-{self.final.name}-{os.getpid()}")
            self.final.rename(stale)
        self.tmp.rename(self.final)
        if stale is not None:
            shutil.rmtree(stale)
        return entry

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
