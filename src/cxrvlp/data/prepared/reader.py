"""The ``prepared`` adapter: studies from a folder written by ``cxrvlp data prepare``, images as shard rows.

Records come back exactly as the source adapter yielded them (splits, labels, sections, views, ids, meta), with
two changes: image and mask paths are :class:`ShardRef` rows of the memory-mapped arrays, and boxes are in the
pixel coordinates of the prepared ``S × S`` image.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from cxrvlp.data.prepared.format import IMAGES, INDEX, MANIFEST, MASKS, SHARDS, ShardRef, read_json
from cxrvlp.data.study import SPLITS, Box, ImageRecord, Study

if TYPE_CHECKING:
    from cxrvlp.data.mimic_cxr import SkipLog


def read_manifest(root: str | Path) -> dict:
    root = Path(root)
    if not (root / MANIFEST).is_file() and (root / SHARDS).is_dir():
        raise FileNotFoundError(f"{root / MANIFEST}: missing, so the preparation of {root} did not finish; "
                                "re-run the same `cxrvlp data prepare` command to complete it")
    return read_json(root / MANIFEST, "manifest")


def prepared_label_names(root: str | Path) -> tuple[str, ...]:
    """The source adapter's label names, as recorded in the manifest."""
    return tuple(read_manifest(root)["label_names"])


def _record(entry: dict, shard_dir: Path) -> ImageRecord:
    return ImageRecord(path=ShardRef(shard_dir / IMAGES, int(entry["row"]), entry["source"]), view=entry["view"],
                       image_id=entry["image_id"], boxes=[Box(**b) for b in entry["boxes"]],
                       masks={k: ShardRef(shard_dir / MASKS, int(row), entry["mask_sources"][k])
                              for k, row in entry["masks"].items()})


def study_from_index(entry: dict, shard_dir: Path) -> Study:
    return Study(patient_id=entry["patient_id"], study_id=entry["study_id"], split=entry["split"],
                 frontal=[_record(e, shard_dir) for e in entry["frontal"]],
                 lateral=[_record(e, shard_dir) for e in entry["lateral"]],
                 sections=entry["sections"], labels=entry["labels"], meta=entry["meta"])


def read_prepared(root: str | Path, splits: tuple[str, ...] = SPLITS, skips: SkipLog | None = None) -> Iterator[Study]:
    """Yield the prepared studies of ``splits``; the inputs skipped while preparing go into ``skips`` again, so
    a training run reports them just as it would on the raw layout."""
    root = Path(root).resolve()  # shard references stay valid whatever the working directory
    manifest = read_manifest(root)
    if skips is not None:
        for reason, n in manifest["skipped"]["counts"].items():
            examples = manifest["skipped"]["examples"].get(reason, [])
            for where in examples:
                skips.add(reason, where)
            skips.counts[reason] += n - len(examples)
    for shard in manifest["shards"]:
        shard_dir = root / SHARDS / shard["name"]
        index = read_json(shard_dir / INDEX, "shard index")
        for entry in index["studies"]:
            if entry["split"] in splits:
                yield study_from_index(entry, shard_dir)
