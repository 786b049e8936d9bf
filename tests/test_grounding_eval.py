"""Grounding evaluation (`cxrvlp evaluate grounding`, evaluation/grounding_eval.py): an oracle map scores 1.0 and a
uniform map chance; report phrases map to the phantom finding whose mask applies; end to end on a tiny checkpoint,
and a recipe without local features is a clear error."""
import json
import math

import numpy as np
import pytest
import torch

from cxrvlp.evaluation import grounding_eval as ge

GRID = (4, 4)


def _block_mask(rows: slice, cols: slice, size: int = 64) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[rows, cols] = True
    return mask


def test_an_oracle_map_scores_one_and_a_uniform_map_chance():
    mask = _block_mask(slice(16, 48), slice(0, 16))  # patch-aligned: 2 of the 16 patches of a 4 x 4 grid
    f = ge.patch_fractions(mask, GRID)
    assert f.sum() == 2 and set(np.unique(f)) == {0.0, 1.0}

    oracle = ge.score_map(torch.from_numpy(f), f)  # a map equal to the mask
    assert oracle["pointing"] == 1.0 and oracle["auroc"] == 1.0 and oracle["energy"] == 1.0
    cosine = ge.score_map(2 * f - 1, f)  # same map on a cosine scale ([-1, 1]): min-subtraction makes it equal
    assert cosine["energy"] == 1.0

    uniform = ge.score_map(np.full(GRID, 0.3), f)
    assert uniform["auroc"] == 0.5
    assert uniform["energy"] == pytest.approx(mask.mean()) == uniform["chance_energy"]
    assert uniform["pointing"] == pytest.approx(2 / 16) == uniform["chance_pointing"]  # ties: expected hit

    inverted = ge.score_map(1 - f, f)
    assert inverted["pointing"] == 0.0 and inverted["auroc"] == 0.0 and inverted["energy"] == 0.0


def test_fractional_masks_tolerance_and_undefined_auroc():
    mask = _block_mask(slice(20, 28), slice(20, 36))  # touches patches (1, 1) and (1, 2), neither whole
    f = ge.patch_fractions(mask, GRID)
    assert f[1, 1] == pytest.approx(8 * 12 / 256) and f[1, 2] == pytest.approx(8 * 4 / 256) and (f > 0).sum() == 2
    oracle = ge.score_map(f, f)
    assert oracle["pointing"] == 1.0 and oracle["auroc"] == 1.0
    assert oracle["chance_energy"] == pytest.approx(mask.mean())

    beside = np.zeros(GRID)
    beside[2, 1] = 1.0  # one patch below the mask
    assert ge.pointing_game(beside, f, tolerance=0) == 0.0
    assert ge.pointing_game(beside, f, tolerance=1) == 1.0
    assert ge.hit_patches(f, 1).sum() == 3 * 4  # rows 0-2, columns 0-3
    assert ge.score_map(beside, f, tolerance=1)["chance_pointing"] == pytest.approx(12 / 16)

    assert math.isnan(ge.mask_auroc(np.random.default_rng(0).random(GRID), np.ones(GRID)))  # every patch inside
    agg = ge.aggregate([ge.score_map(f, f), {**ge.score_map(beside, f), "auroc": math.nan}])
    assert agg["n"] == 2 and agg["n_auroc"] == 1 and agg["auroc"] == 1.0 and agg["pointing"] == 0.5


REPORT = ("Moderate left pleural effusion with blunting of the costophrenic angle. No pneumothorax. Retrocardiac "
          "opacity, which may reflect atelectasis or pneumonia. Lobar airspace opacity in the right upper lobe, "
          "concerning for pneumonia. Mild cardiomegaly. No acute osseous fracture.")


def test_report_phrases_map_to_the_phantom_finding_whose_mask_applies():
    present = {"pleural_effusion", "retrocardiac_opacity", "consolidation", "nodule", "pneumothorax"}
    got = [(p.text, p.finding, p.skip) for p in ge.finding_phrases(REPORT, present)]
    assert got == [
        ("pleural effusion", "pleural_effusion", None),
        ("blunting", "pleural_effusion", None),  # no lexicon mention: the cue rules on the term itself
        ("pneumothorax", None, "negative"),
        ("Retrocardiac opacity", "retrocardiac_opacity", None),  # the anatomy term picks the finding
        ("atelectasis", None, "uncertain"),
        ("pneumonia", None, "uncertain"),
        ("opacity", None, "ambiguous finding"),  # consolidation, nodule, retrocardiac opacity all present
        ("pneumonia", None, "uncertain"),
        ("cardiomegaly", None, "finding not in the ground truth"),
        ("fracture", None, "names no phantom finding"),
    ]
    for p in ge.finding_phrases(REPORT, present):
        assert REPORT[p.start:p.end] == p.text
    # with a consolidation and a nodule present, "pneumonia" in its sentence decides what "opacity" is
    sentence = "Lobar airspace opacity in the right upper lobe, concerning for pneumonia."
    assert [(p.text, p.finding) for p in ge.finding_phrases(sentence, {"consolidation", "nodule"})] == [
        ("opacity", "consolidation"), ("pneumonia", None)]
    ambiguous = {p.text: p.skip for p in ge.finding_phrases("Patchy opacity.", {"consolidation", "nodule"})}
    assert ambiguous == {"opacity": "ambiguous finding"}


def test_phrase_tokens_to_words():
    # "[CLS] pleural eff ##usion . [SEP]": offsets and word index of each token
    offsets = torch.tensor([[0, 0], [0, 7], [8, 11], [11, 16], [16, 17], [0, 0]])
    word_index = torch.tensor([-1, 0, 1, 1, 2, -1])
    assert ge.phrase_words(offsets, word_index, 0, 16) == [0, 1]
    assert ge.phrase_words(offsets, word_index, 8, 16) == [1]
    assert ge.phrase_words(offsets, word_index, 10, 20) is None  # runs past the last token: cut by the limit



@pytest.mark.slow
def test_grounding_end_to_end_and_a_recipe_without_local_features(tiny_phantom, tmp_path, one_thread, capsys):
    from cxrvlp.cli import main
    from cxrvlp.recipe import load_recipe
    from cxrvlp.training.pretrain import pretrain
    from cxrvlp.training.task import PretrainTask

    cfg = load_recipe("limitr-tiny", [f"data.root={tiny_phantom}", "trainer.max_epochs=1", "data.augment=false"])
    last = pretrain(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "grounding"
    assert main(["evaluate", "grounding", str(last), "--out", str(out), "--no-progress"]) == 0
    assert {"metrics.json", "results.md", "grounding_maps.png"} <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    proto = metrics["protocol"]
    assert proto["recipe"] == "limitr-tiny" and proto["split"] == "test" and proto["views"] == ["frontal", "lateral"]
    assert len(proto["checkpoint_sha256"]) == 64 and proto["study_ids_sha256"] and proto["preprocess"]["crop"] == 64
    g = metrics["grounding"]
    assert g["overall"]["n"] > 0 and set(g["per_view"]) == {"frontal", "lateral"}
    for agg in [g["overall"], *g["per_view"].values(), *(a for v in g["per_finding"].values() for a in v.values())]:
        for key in ("pointing", "energy", "chance_pointing", "chance_energy"):
            assert math.isfinite(agg[key]) and 0.0 <= agg[key] <= 1.0
        assert agg["n_auroc"] == 0 or 0.0 <= agg["auroc"] <= 1.0
    assert metrics["skipped"] and metrics["scored"]["phrases"] > 0
    assert [r["metric"] for r in metrics["summary"]][:3] == [
        "grounding pointing game (frontal)", "grounding mask AUROC (frontal)", "grounding energy in mask (frontal)"]
    table = (out / "results.md").read_text()
    assert "| **all findings** | all views |" in table and "skipped:" in table

    study = next(d for d in sorted((tiny_phantom / "files").glob("p*/p*/s*")) if len(list(d.glob("*.jpg"))) == 2)
    assert main(["explain", str(last), "--study-dir", str(study), "--phrase", "pleural effusion",
                 "--out", str(tmp_path / "explain.png")]) == 0
    assert "lateral: strongest" in capsys.readouterr().out  # both views of a two-view recipe

    # convirt: no local features; one clear line, exit code 2 (the CLI's error convention)
    config = load_recipe("convirt-tiny", [f"data.root={tiny_phantom}"]).to_dict()
    ckpt = tmp_path / "convirt" / "last.ckpt"
    ckpt.parent.mkdir()
    torch.save({"hyper_parameters": {"config": config}, "state_dict": PretrainTask(config).state_dict()}, ckpt)
    assert main(["evaluate", "grounding", str(ckpt), "--out", str(tmp_path / "none"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "recipe convirt-tiny has no local features" in err and len(err.strip().splitlines()) == 1
    assert main(["explain", str(ckpt), "--study-dir", str(study), "--phrase", "effusion",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "recipe convirt-tiny has no local features" in capsys.readouterr().err
