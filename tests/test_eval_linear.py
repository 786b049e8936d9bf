"""`cxrvlp evaluate linear`: stratified label fractions, a probe that reaches the maximum on features that encode
the label and chance on noise, and end-to-end runs on the phantom and on Shenzhen TB / JSRT nodule."""
import json

import numpy as np
import pytest

from _eval_helpers import one_torch_thread  # noqa: F401  (autouse fixture)
from cxrvlp.cli import main
from cxrvlp.evaluation import fractions as fr
from cxrvlp.evaluation import linear_probe as lp


def test_fraction_is_stratified_seeded_and_keeps_every_label():
    rng = np.random.default_rng(0)
    labels = (rng.random((1000, 3)) < [0.3, 0.05, 0.01]).astype(float)
    labels[rng.random((1000, 3)) < 0.1] = np.nan
    a, b, c = (fr.sample_fraction(labels, 0.01, s) for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 10 <= len(a) <= 16  # ~1 % per stratum, at least one each
    assert (labels[a] == 1).any(axis=0).all()  # even the 1 %-prevalence label has a positive
    assert len(fr.sample_fraction(labels, 1.0, 0)) == 1000
    with pytest.raises(ValueError, match="label fraction"):
        fr.sample_fraction(labels, 0.0, 0)


def _split(x, y, n_train=300, n_val=100):
    return x[:n_train], y[:n_train], x[n_train:n_train + n_val], y[n_train:n_train + n_val], x[n_train + n_val:]


def test_probe_scores_near_one_on_label_features_and_near_chance_on_noise():
    rng = np.random.default_rng(0)
    y = (rng.random((600, 2)) < 0.3).astype(float)
    y[rng.random((600, 2)) < 0.05] = np.nan  # unknown labels are left out, not read as negatives
    informative = np.concatenate([np.nan_to_num(y) + 0.1 * rng.normal(size=y.shape), rng.normal(size=(600, 8))], 1)
    noise = rng.normal(size=(600, 10))
    for x, lo, hi in ((informative, 0.98, 1.0), (noise, 0.35, 0.65)):
        tr_x, tr_y, va_x, va_y, te_x = _split(x, y)
        scores, cs = lp.probe_multilabel(tr_x, tr_y, va_x, va_y, te_x)
        result = lp.score_predictions(scores, y[400:], ("a", "b"), "multilabel")
        assert lo <= result["auroc_macro"] <= hi, result
        assert all(c in lp.C_GRID for c in cs)


def test_multiclass_probe_accuracy():
    rng = np.random.default_rng(1)
    k = rng.integers(0, 3, 600)
    y = np.eye(3)[k]
    x = y * 2 + 0.3 * rng.normal(size=(600, 3))
    tr_x, tr_y, va_x, va_y, te_x = _split(x, y)
    proba, _ = lp.probe_multiclass(tr_x, tr_y, va_x, va_y, te_x)
    assert lp.score_predictions(proba, y[400:], ("a", "b", "c"), "multiclass")["accuracy"] > 0.95


def _run(tmp_path, *extra):
    out = tmp_path / "lin"
    assert main(["evaluate", "linear", "random", "--encoder", "test_resnet", "--image-size", "64", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress", *extra]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_phantom_end_to_end_writes_protocol_table_roc_and_reuses_cached_features(tiny_phantom, tmp_path):
    args = ("--adapter", "phantom", "--data-root", str(tiny_phantom), "--labels", "cardiomegaly,support_devices",
            "--fractions", "50,100", "--seeds", "0,1")
    out, res = _run(tmp_path, *args)
    p = res["protocol"]
    assert p["task"] == "linear probe" and p["encoder"]["init"] == "random" and p["seeds"] == [0, 1]
    assert p["preprocess"]["crop"] == 64 and set(p["study_ids_sha256"]) == {"train", "validate", "test"}
    ids = json.loads((out / "fraction_ids.json").read_text())
    assert set(ids) == {"50%/seed0", "50%/seed1", "100%/seed0"}
    assert len(ids["100%/seed0"]) == p["n_studies"]["train"] > len(ids["50%/seed0"])
    cells = {(r["metric"], r["fraction"]): r for r in res["summary"]}
    assert cells[("AUROC", "50%")]["n"] <= 2 and 0.0 <= cells[("AUROC", "100%")]["mean"] <= 1.0
    assert (out / "results.md").read_text().count("|") > 10 and (out / "roc_test.png").stat().st_size > 0
    cached = sorted((tmp_path / "cache").iterdir())
    assert len(cached) == 3  # one global-feature file per split
    mtimes = [f.stat().st_mtime_ns for f in cached]
    _run(tmp_path, *args)
    assert [f.stat().st_mtime_ns for f in sorted((tmp_path / "cache").iterdir())] == mtimes


def test_phantom_finetune_runs(tiny_phantom, tmp_path):
    out, res = _run(tmp_path, "--adapter", "phantom", "--data-root", str(tiny_phantom), "--labels", "cardiomegaly",
                    "--fractions", "100", "--seeds", "0", "--finetune", "--epochs", "1", "--limit", "8")
    assert res["protocol"]["task"] == "fine-tuning" and not (tmp_path / "cache").exists()
    assert res["runs"][0]["n_train"] == res["protocol"]["n_studies"]["train"]


def test_reference_row_needs_data_and_known_labels(tiny_phantom, tmp_path):
    assert main(["evaluate", "linear", "random", "--encoder", "test_resnet", "--out", str(tmp_path)]) == 2
    assert main(["evaluate", "linear", "random", "--encoder", "test_resnet", "--out", str(tmp_path), "--adapter",
                 "phantom", "--data-root", str(tiny_phantom), "--labels", "nope"]) == 2
    assert main(["evaluate", "linear", "imagenet", "--encoder", "test_resnet", "--out", str(tmp_path), "--adapter",
                 "phantom", "--data-root", str(tiny_phantom)]) == 2


@pytest.mark.shared_data
@pytest.mark.parametrize("adapter,label", [("shenzhen_tb", "Tuberculosis"), ("jsrt_lungs", "Nodule")])
def test_real_data_linear_probe(shared_data, tmp_path, adapter, label):
    out, res = _run(tmp_path, "--adapter", adapter, "--data-root", str(shared_data / adapter), "--labels", label,
                    "--limit", "24", "--fractions", "25,100", "--seeds", "0,1")
    assert res["protocol"]["n_studies"]["test"] == 24
    per_label = res["runs"][-1]["per_label"][label]
    assert per_label["positives"] > 0 and per_label["negatives"] > 0
    assert 0.0 <= res["runs"][-1]["auroc_macro"] <= 1.0
