"""`cxrvlp data prepare`: shards from a phantom and from real data, resumption, corrupt inputs, the `prepared`
adapter giving the same items as the raw layout, boxes and masks following their image, pre-training from shards."""
import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from cxrvlp.data import transforms
from cxrvlp.data.adapters import ADAPTERS, Adapter, get_adapter, load_studies
from cxrvlp.data.dataset import StudyDataset
from cxrvlp.data.prepared import ShardRef
from cxrvlp.data.prepared.format import read_array
from cxrvlp.data.prepared.prepare import prepare
from cxrvlp.data.prepared.writer import ShardWriter
from cxrvlp.data.study import SPLITS, Box, ImageRecord, Study
from cxrvlp.data.transforms import Preprocess

SIZE = 72  # convirt-tiny's data.resize


def _files(folder):
    """relative path → (sha256, mtime_ns) of every file under ``folder``."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _by_id(studies):
    return {s.study_id: s for s in studies}


@pytest.fixture(scope="module")
def prepared_phantom(tiny_phantom, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    report = prepare("phantom", tiny_phantom, out, size=SIZE, workers=2, shard_size=16, progress=False)
    return out, report


def test_prepare_keeps_every_record_and_counts_them(tiny_phantom, prepared_phantom):
    out, report = prepared_phantom
    raw, raw_skips = load_studies("phantom", str(tiny_phantom), SPLITS)
    prepared, _ = load_studies("prepared", str(out), SPLITS)
    assert report.written == ["00000", "00001", "00002"] and not report.reused
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["studies"] == len(raw) == len(prepared) == 48
    assert manifest["counts"]["images"] == sum(len(s.frontal) + len(s.lateral) for s in raw)
    assert manifest["label_names"] == list(get_adapter("phantom").label_names)
    assert get_adapter("prepared").labels_for(str(out)) == get_adapter("phantom").label_names
    assert [s["sha256"] for s in manifest["shards"]] == [
        hashlib.sha256((out / "shards" / n / "index.json").read_bytes()).hexdigest() for n in report.written]
    raw_by_id = _by_id(raw)
    for study in prepared:
        ref = raw_by_id[study.study_id]
        assert (study.patient_id, study.split, study.sections, study.labels) == \
               (ref.patient_id, ref.split, ref.sections, ref.labels)
        assert study.meta["ground_truth"] == ref.meta["ground_truth"]
        for got, want in ((study.frontal, ref.frontal), (study.lateral, ref.lateral)):
            assert [(r.view, r.image_id) for r in got] == [(r.view, r.image_id) for r in want]
            assert all(isinstance(r.path, ShardRef) and r.path.source == str(w.path) for r, w in zip(got, want))


def test_items_from_shards_equal_items_from_raw_layout(tiny_phantom, prepared_phantom):
    out, _ = prepared_phantom
    raw = sorted(load_studies("phantom", str(tiny_phantom), SPLITS)[0], key=lambda s: s.study_id)
    prepared = sorted(load_studies("prepared", str(out), SPLITS)[0], key=lambda s: s.study_id)
    pre = Preprocess(resize=SIZE, crop=64, mean=0.5, std=0.5)
    names = get_adapter("phantom").label_names
    for train in (False, True):
        from_raw = StudyDataset(raw, pre, train=train, label_names=names, use_lateral=True)
        cached = StudyDataset(raw, pre, train=train, label_names=names, use_lateral=True, cache_resized=True)
        from_shards = StudyDataset(prepared, pre, train=train, label_names=names, use_lateral=True)
        for i in range(len(raw)):
            items = []
            for ds in (from_raw, cached, cached, from_shards):  # cached twice: the second read comes from the cache
                torch.manual_seed(i)  # same random crop and jitter for all
                items.append(ds[i])
            a, _, c, b = items
            assert (a["study_id"], a["text"]) == (b["study_id"], b["text"])
            torch.testing.assert_close(a["labels"], b["labels"], equal_nan=True)
            for view in ("frontal", "lateral"):
                assert (a[view] is None) == (b[view] is None)
                if a[view] is not None:
                    # the only difference is uint8 rounding: half a grey level, times the contrast jitter's gain
                    # (at most 1.2 in training), divided by std
                    atol = 0.5 / 255 * (1.2 if train else 1.0) / pre.std + 1e-6
                    torch.testing.assert_close(b[view], a[view], rtol=0, atol=atol)
                    assert torch.equal(b[view], c[view])  # and the in-memory uint8 cache rounds the same way


def test_resume_after_interruption_keeps_finished_shards_and_equals_a_clean_run(
        tiny_phantom, prepared_phantom, tmp_path, monkeypatch):
    clean, _ = prepared_phantom
    out = tmp_path / "resumed"
    commit, calls = ShardWriter.commit, []

    def commit_then_crash(self, header):
        calls.append(self.final.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if Ctrl-C hit while the second shard was being finished
        return commit(self, header)

    monkeypatch.setattr(ShardWriter, "commit", commit_then_crash)
    with pytest.raises(KeyboardInterrupt):
        prepare("phantom", tiny_phantom, out, size=SIZE, workers=2, shard_size=16, progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["00000"]  # half-built shard removed
    assert not (out / "manifest.json").exists()
    with pytest.raises(FileNotFoundError, match="did not finish"):
        load_studies("prepared", str(out), SPLITS)

    first = _files(out / "shards" / "00000")
    (out / "shards" / ".tmp-00001-999").mkdir()  # left behind by a killed run
    (out / "shards" / ".tmp-00001-999" / "images.npy").write_bytes(b"junk")
    report = prepare("phantom", tiny_phantom, out, size=SIZE, workers=1, shard_size=16, progress=False)
    assert report.reused == ["00000"] and report.written == ["00001", "00002"]
    assert _files(out / "shards" / "00000") == first  # not rewritten: same bytes, same mtimes
    assert not (out / "shards" / ".tmp-00001-999").exists()
    assert (out / "manifest.json").read_text() == (clean / "manifest.json").read_text()
    assert {k: h for k, (h, _) in _files(out / "shards").items()} == \
           {k: h for k, (h, _) in _files(clean / "shards").items()}

    again = prepare("phantom", tiny_phantom, out, size=SIZE, workers=1, shard_size=16, progress=False)
    assert again.written == [] and again.reused == ["00000", "00001", "00002"]
    with pytest.raises(ValueError, match="other settings.*size"):
        prepare("phantom", tiny_phantom, out, size=SIZE + 8, workers=1, shard_size=16, progress=False)


def test_corrupt_images_are_listed_with_their_path_and_skipped(tiny_phantom, tmp_path, capsys):
    root = shutil.copytree(tiny_phantom, tmp_path / "phantom")
    studies = load_studies("phantom", str(root), SPLITS)[0]
    damaged, truncated = studies[0], studies[1]
    junk_lateral = next(s for s in studies[2:] if s.lateral)
    data = damaged.frontal[0].path.read_bytes()
    # intact JPEG markers, so the adapter's cheap check passes, but the middle is lost: fails only when decoded
    damaged.frontal[0].path.write_bytes(data[:300] + bytes(len(data) - 1324) + data[-1024:])
    junk_lateral.lateral[0].path.write_bytes(b"\xff\xd8\xff" + b"not a jpeg" * 50 + b"\xff\xd9")
    data = truncated.frontal[0].path.read_bytes()
    truncated.frontal[0].path.write_bytes(data[: len(data) // 2])  # the adapter itself reports this one

    from cxrvlp.cli import main

    out = tmp_path / "out"
    assert main(["data", "prepare", "--dataset", "phantom", "--root", str(root), "--out", str(out),
                 "--size", "32", "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out.replace("\n", "")
    listed = (out / "skipped.tsv").read_text()
    for path in (damaged.frontal[0].path, junk_lateral.lateral[0].path, truncated.frontal[0].path):
        assert str(path) in listed and path.name in printed
    assert "unreadable image" in printed and "study without a readable frontal image" in printed
    counts = json.loads((out / "manifest.json").read_text())["skipped"]["counts"]
    assert counts["unreadable image"] == 2 and counts["study without a readable frontal image"] == 1
    prepared = _by_id(load_studies("prepared", str(out), SPLITS)[0])
    assert damaged.study_id not in prepared and truncated.study_id not in prepared
    assert len(prepared) == len(studies) - 2
    assert prepared[junk_lateral.study_id].lateral == [] and len(prepared[junk_lateral.study_id].frontal) == 1


def _one_study_adapter(tmp_path):
    """A 40 × 20 image with a bright 8 × 4 block at rows 12..20, columns 6..10, its box and its mask."""
    img = np.zeros((40, 20), np.uint8)
    img[12:20, 6:10] = 255
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(img).save(tmp_path / "mask.png")
    record = ImageRecord(tmp_path / "img.png", "PA", "img", boxes=[Box("block", 6, 12, 10, 20)],
                         masks={"block": tmp_path / "mask.png"})

    def read(root, splits=SPLITS, skips=None):
        yield Study("p1", "s1", "train", frontal=[record], sections={"FINDINGS": "a block"}, labels={"block": 1.0})
    return Adapter(read, ("block",))


def test_boxes_and_masks_follow_their_image(tmp_path, monkeypatch):
    monkeypatch.setitem(ADAPTERS, "one_study", _one_study_adapter(tmp_path))
    prepare("one_study", tmp_path, tmp_path / "out", size=32, workers=1, progress=False)
    (study,), _ = load_studies("prepared", str(tmp_path / "out"), SPLITS)
    record = study.frontal[0]
    # 40 × 20 → 32 × 16, centred: 8 columns of padding on the left; coordinates scale by 0.8
    assert record.boxes == [Box("block", 6 * 0.8 + 8, 12 * 0.8, 10 * 0.8 + 8, 20 * 0.8)]
    image, mask = read_array(record.path), read_array(record.masks["block"])
    assert image.shape == mask.shape == (32, 32)
    assert set(np.unique(mask)) == {0, 255}  # nearest neighbour: still binary
    ys, xs = np.nonzero(mask)
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (10, 16, 13, 16)  # = the rescaled box, rounded
    assert image[10:16, 13:16].min() > 200 and image[:8].max() == 0 and image[:, :8].max() == 0
    expected = transforms.resize_pad(transforms.load_gray(tmp_path / "img.png"), 32)
    np.testing.assert_array_equal(image, (expected[0] * 255).round().to(torch.uint8).numpy())


@pytest.mark.slow
def test_pretraining_runs_from_shards_without_decoding_a_jpeg(prepared_phantom, tmp_path, monkeypatch):
    from cxrvlp.recipe import load_recipe
    from cxrvlp.training.pretrain import pretrain, read_metrics

    out, _ = prepared_phantom

    def no_decoding(path):
        raise AssertionError(f"decoded {path} although the data are prepared")

    monkeypatch.setattr(transforms, "load_gray", no_decoding)
    cfg = load_recipe("convirt-tiny", ["data.adapter=prepared", f"data.root={out}", "trainer.max_epochs=1"])
    last = pretrain(cfg, tmp_path / "run", progress=False)
    assert last.is_file()
    rows = read_metrics(tmp_path / "run")
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert losses and all(np.isfinite(losses))


@pytest.mark.shared_data
def test_prepare_covid_cxr_notes(shared_data, tmp_path):
    name = "covid_cxr_notes"
    root = shared_data / name
    raw, raw_skips = load_studies(name, str(root), SPLITS)
    report = prepare(name, root, tmp_path / "out", size=64, workers=2, shard_size=200, progress=False)
    prepared, skips = load_studies("prepared", str(tmp_path / "out"), SPLITS)
    resize_skips = report.skipped_counts.get("study without a readable frontal image", 0)
    assert len(prepared) == len(raw) - resize_skips and len(prepared) > 100
    assert all(skips.counts[r] >= n for r, n in raw_skips.counts.items())  # adapter skips carried into the manifest
    raw_by_id, pre = _by_id(raw), Preprocess(resize=64, crop=64, mean=0.5, std=0.5)
    for study in prepared[:: max(1, len(prepared) // 20)]:
        ref = raw_by_id[study.study_id]
        assert (study.split, study.sections, study.labels) == (ref.split, ref.sections, ref.labels)
        got = StudyDataset([study], pre, train=False)[0]["frontal"]
        want = StudyDataset([ref], pre, train=False)[0]["frontal"]
        torch.testing.assert_close(got, want, rtol=0, atol=1 / 255 + 1e-6)
        for rec, raw_rec in zip(study.frontal + study.lateral, ref.frontal + ref.lateral):
            assert len(rec.boxes) == len(raw_rec.boxes) and set(rec.masks) == set(raw_rec.masks)
