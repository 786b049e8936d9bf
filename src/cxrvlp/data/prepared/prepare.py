"""``cxrvlp data prepare``: read a data set through its adapter once, resize every image once, write shards.

Studies are planned into shards of ``shard_size`` studies (train, then validate, then test, each in adapter
order). A shard whose folder already exists with the same settings and the same inputs (its *plan hash*: the
study records plus size and modification time of every input file) is kept; the others are (re)built by a pool
of worker processes and committed one by one, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cxrvlp import __version__
from cxrvlp.data.adapters import get_adapter, load_studies
from cxrvlp.data.prepared.format import (
    FORMAT,
    FORMAT_VERSION,
    INDEX,
    MANIFEST,
    SHARDS,
    SKIPPED,
    TMP_PREFIX,
    read_json,
    write_json_atomic,
)
from cxrvlp.data.prepared.resize import init_worker, resize_study
from cxrvlp.data.prepared.writer import ShardWriter, file_sha256, shard_entry
from cxrvlp.data.study import SPLITS, Study

log = logging.getLogger(__name__)


@dataclass
class PrepareReport:
    """What a run did. ``skipped`` lists every input not used: ``(source, reason, where)`` where source is
    ``adapter`` (the adapter's SkipLog keeps up to 5 examples per reason; ``skipped_counts`` has the totals) or
    ``resize`` (every unreadable image, listed in full)."""

    out: Path
    manifest: dict
    written: list[str] = field(default_factory=list)  # shards built by this run
    reused: list[str] = field(default_factory=list)  # finished shards found and kept
    removed: list[str] = field(default_factory=list)  # shard folders beyond the plan, deleted
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    images_resized: int = 0
    seconds: float = 0.0

    @property
    def skipped_counts(self) -> dict[str, int]:
        return self.manifest["skipped"]["counts"]


def adapter_version(name: str) -> str:
    """The adapter's ``version`` attribute if it has one, else the hash of the module that reads the layout."""
    adapter = get_adapter(name)
    if getattr(adapter, "version", None):
        return str(adapter.version)
    source = Path(inspect.getsourcefile(adapter.read))
    return f"cxrvlp {__version__} {source.name} sha256:{file_sha256(source)[:12]}"


def _records(study: Study):
    return (*study.frontal, *study.lateral)


def plan_hash(studies: list[Study], size: int) -> str:
    """Hash of what a shard is made from: the records and the size and mtime of each image and mask file."""
    h = hashlib.sha256(str(size).encode())
    for study in studies:
        h.update(json.dumps(asdict(study), sort_keys=True, default=str).encode())
        for path in (p for rec in _records(study) for p in (rec.path, *rec.masks.values())):
            try:
                st = os.stat(path)
                h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                h.update(f"{path}:missing".encode())
    return h.hexdigest()


def _finished_index(shard_dir: Path) -> dict | None:
    return read_json(shard_dir / INDEX, "shard index") if (shard_dir / INDEX).is_file() else None


def _refuse_other_preparation(where: Path, found: dict, settings: dict) -> None:
    differ = {k: (found.get(k), v) for k, v in settings.items() if found.get(k) != v}
    if differ:
        raise ValueError(f"{where}: prepared with other settings ("
                         + ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in differ.items())
                         + "); use another --out, or --overwrite to replace it")


@contextlib.contextmanager
def _exclusive(out: Path):
    """One ``prepare`` per output folder at a time (two would remove each other's temporary shards)."""
    with (out / ".prepare.lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{out}: another `cxrvlp data prepare` is writing this folder") from None
        yield


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _resizer(workers: int):
    """Yields ``map``-like ``f(tasks)`` → :func:`resize_study` results in task order, run in this process (one
    thread) or in a pool of ``workers`` processes, started here, before any progress-bar thread exists."""
    if workers == 1:
        with _torch_threads(1):
            yield lambda tasks: map(resize_study, tasks)
        return
    # forkserver, not fork: a fork of a process whose torch/OpenMP threads hold locks can deadlock (seen in the
    # test suite); the workers use one torch thread each.
    with multiprocessing.get_context("forkserver").Pool(workers, initializer=init_worker) as pool:
        yield lambda tasks: pool.imap(resize_study, tasks, chunksize=4)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("images"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), disable=not enabled)


def _remove_prepared(out: Path) -> None:
    shutil.rmtree(out / SHARDS, ignore_errors=True)
    for name in (MANIFEST, SKIPPED):
        (out / name).unlink(missing_ok=True)


def _write_skipped(path: Path, skipped: list[tuple[str, str, str]], counts: Counter) -> None:
    lines = ["source\treason\twhere"]
    lines += ["\t".join(row) for row in skipped]
    listed = Counter(reason for src, reason, _ in skipped if src == "adapter")
    lines += [f"adapter\t{reason}\t... and {counts[reason] - n} more (the adapter lists {n} examples)"
              for reason, n in listed.items() if counts[reason] > n]
    path.write_text("\n".join(lines) + "\n")


def _check_finished(plan, shards_dir: Path, settings: dict, size: int, report: PrepareReport):
    """Split the plan into finished shards (same settings, same plan hash: kept) and pending ones (built)."""
    entries, shard_skips, pending = {}, {}, []
    for name, part in plan:
        header = {"settings": settings, "plan_sha256": plan_hash(part, size)}
        index = _finished_index(shards_dir / name)
        if index is not None:
            _refuse_other_preparation(shards_dir / name / INDEX, index["settings"], settings)
        if index is not None and index["plan_sha256"] == header["plan_sha256"]:
            entries[name] = shard_entry(index, file_sha256(shards_dir / name / INDEX))
            shard_skips[name] = [tuple(s) for s in index["skipped"]]
            report.reused.append(name)
        else:
            if index is not None:
                log.info("%s: its inputs changed since it was written; rebuilding it", shards_dir / name)
            pending.append((name, part, header))
    return entries, shard_skips, pending


def _build(pending, shards_dir: Path, size: int, workers: int, progress: bool, report: PrepareReport):
    """Resize the pending shards' images (in order) and commit each shard as soon as its last study is done."""
    entries, shard_skips = {}, {}
    n_images = sum(len(_records(s)) for _, part, _ in pending for s in part)
    tasks = ((s, size) for _, part, _ in pending for s in part)
    t0 = time.perf_counter()
    with _resizer(workers) as resize_all, _progress(progress) as bar:
        stream = resize_all(tasks)
        task = bar.add_task("prepare", total=n_images, rate="")
        for name, part, header in pending:
            writer = ShardWriter(shards_dir, name, size, part)
            try:
                for study in part:
                    resized = next(stream)
                    writer.add(study, resized)
                    report.images_resized += len(resized)
                    rate = report.images_resized / max(time.perf_counter() - t0, 1e-9)
                    bar.update(task, advance=len(resized), rate=f"{rate:.0f}/s", description=f"shard {name}")
                entries[name] = writer.commit(header)
            except BaseException:
                writer.abort()
                raise
            shard_skips[name] = writer.skipped
            report.written.append(name)
    return entries, shard_skips


def prepare(dataset: str, root: str | Path, out: str | Path, size: int = 256, workers: int = 1,
            shard_size: int = 1000, overwrite: bool = False, progress: bool = True) -> PrepareReport:
    """Prepare ``dataset`` (a registered adapter) read from ``root`` into ``out``; see :mod:`.format`.

    Re-running the same command skips finished shards; ``overwrite`` first deletes what a previous run wrote.
    Unreadable images are skipped and listed (``out/skipped.tsv``, the manifest, the returned report).
    """
    if dataset == "prepared":
        raise ValueError("--dataset prepared: the data are prepared already; name the source adapter")
    if size < 8 or shard_size < 1 or workers < 1:
        raise ValueError(f"need size >= 8, shard_size >= 1 and workers >= 1 (got {size}, {shard_size}, {workers})")
    t0 = time.perf_counter()
    root, out = Path(root).resolve(), Path(out)
    adapter = get_adapter(dataset)
    studies, skips = load_studies(dataset, str(root), SPLITS)
    if not studies:
        raise ValueError(f"{root}: the {dataset!r} adapter found no studies ({skips.summary()})")
    studies.sort(key=lambda s: SPLITS.index(s.split))  # stable: adapter order within a split
    plan = [(f"{k:05d}", studies[i : i + shard_size]) for k, i in enumerate(range(0, len(studies), shard_size))]
    settings = {"dataset": dataset, "root": str(root), "size": size, "shard_size": shard_size}
    out.mkdir(parents=True, exist_ok=True)
    report = PrepareReport(out=out, manifest={})
    with _exclusive(out):
        if overwrite:
            _remove_prepared(out)
        if (out / MANIFEST).is_file():
            _refuse_other_preparation(out / MANIFEST, read_json(out / MANIFEST, "manifest"), settings)
        shards_dir = out / SHARDS
        shards_dir.mkdir(exist_ok=True)
        for leftover in shards_dir.glob(TMP_PREFIX + "*"):  # from an interrupted run
            shutil.rmtree(leftover)
        entries, shard_skips, pending = _check_finished(plan, shards_dir, settings, size, report)
        planned = {name for name, _ in plan}
        for extra in sorted(p for p in shards_dir.iterdir() if p.is_dir() and p.name not in planned):
            shutil.rmtree(extra)
            report.removed.append(extra.name)
        if pending:
            (out / MANIFEST).unlink(missing_ok=True)  # never describe a folder that is being changed
            built, built_skips = _build(pending, shards_dir, size, workers, progress, report)
            entries.update(built)
            shard_skips.update(built_skips)

        report.skipped = [("adapter", reason, where) for reason, examples in skips.examples.items()
                          for where in examples]
        report.skipped += [("resize", reason, where) for name, _ in plan for reason, where in shard_skips[name]]
        counts = Counter(skips.counts)
        counts.update(reason for name, _ in plan for reason, _ in shard_skips[name])
        _write_skipped(out / SKIPPED, report.skipped, counts)
        report.manifest = _manifest(out, settings, dataset, adapter.label_names, [entries[n] for n, _ in plan],
                                    counts, report.skipped)
        write_json_atomic(out / MANIFEST, report.manifest)
    report.seconds = time.perf_counter() - t0
    return report


def _manifest(out: Path, settings: dict, dataset: str, label_names, shards: list[dict], skip_counts: Counter,
              skipped: list[tuple[str, str, str]]) -> dict:
    by_split, frontal, lateral = Counter(), 0, 0
    for shard in shards:
        for study in read_json(out / SHARDS / shard["name"] / INDEX, "shard index")["studies"]:
            by_split[study["split"]] += 1
            frontal += len(study["frontal"])
            lateral += len(study["lateral"])
    examples: dict[str, list[str]] = {}
    for _, reason, where in skipped:
        if len(examples.setdefault(reason, [])) < 5:
            examples[reason].append(where)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, **settings,
        "adapter_version": adapter_version(dataset), "cxrvlp_version": __version__,
        "label_names": list(label_names),
        "image_layout": "grayscale; long side resized to size (bilinear, antialiased), zero-padded to a centred "
                        "square; uint8 = round(255 * value); masks nearest-neighbour in their image's geometry; "
                        "boxes in prepared pixel coordinates",
        "counts": {"studies": sum(s["studies"] for s in shards), "images": sum(s["images"] for s in shards),
                   "frontal_images": frontal, "lateral_images": lateral, "masks": sum(s["masks"] for s in shards),
                   "by_split": {k: by_split[k] for k in SPLITS if by_split[k]}},
        "skipped": {"counts": dict(skip_counts), "examples": examples},
        "shards": shards,
    }
