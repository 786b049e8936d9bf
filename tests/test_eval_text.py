"""`cxrvlp evaluate zeroshot | retrieval` (and the task-less form that runs both) on a tiny checkpoint, on the phantom
and on the COVID notes; scores that see the truth reach the maximum, random ones chance; `cxrvlp report` lines up
several runs."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _eval_helpers import one_torch_thread  # noqa: F401  (autouse fixture)
from cxrvlp.cli import main
from cxrvlp.evaluation import metrics
from cxrvlp.recipe import load_recipe
from cxrvlp.training.task import PretrainTask


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_phantom, tmp_path_factory):
    """An untrained convirt-tiny saved as `cxrvlp pretrain` saves it (the evaluation reads config + weights)."""
    config = load_recipe("convirt-tiny", [f"data.root={tiny_phantom}"]).to_dict()
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("convirt") / "checkpoints" / "last.ckpt"
    path.parent.mkdir()
    task = PretrainTask(config)
    torch.save({"hyper_parameters": {"config": config}, "state_dict": task.state_dict()}, path)
    return path


def test_scores_that_see_the_truth_reach_the_maximum_and_random_ones_chance():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(400, generator=g) < 0.3).numpy().astype(float)
    pos, neg = F.normalize(torch.randn(2, 16, generator=g), dim=1)
    seen = F.normalize(torch.where(torch.from_numpy(y)[:, None] == 1, pos, neg) + 0.1 * torch.randn(400, 16), dim=1)
    blind = F.normalize(torch.randn(400, 16, generator=g), dim=1)
    assert metrics.auroc(metrics.zero_shot_scores(seen, pos[None], neg[None]).numpy(), y) > 0.99
    assert abs(metrics.auroc(metrics.zero_shot_scores(blind, pos[None], neg[None]).numpy(), y) - 0.5) < 0.1
    assert metrics.recall_at_k(seen[:50], seen[:50] + 1e-3, ks=(1,))[1] == 1.0
    chance = np.mean([metrics.recall_at_k(blind[:100], F.normalize(torch.randn(100, 16), dim=1), ks=(10,))[10]
                      for _ in range(5)])
    assert 0.03 < chance < 0.2  # 10 / 100


def _evaluate(tmp_path, name, *argv):
    out = tmp_path / name
    assert main(["evaluate", *argv, "--out", str(out), "--no-progress"]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_zeroshot_retrieval_and_the_taskless_form(tiny_checkpoint, tmp_path):
    ckpt = str(tiny_checkpoint)
    zs_dir, zs = _evaluate(tmp_path, "zs", "zeroshot", ckpt)
    assert zs["zero_shot"]["per_label"] and zs["retrieval"] == {}
    assert [r["metric"] for r in zs["summary"]] == ["zero-shot AUROC (mean)"]
    rt_dir, rt = _evaluate(tmp_path, "rt", "retrieval", ckpt, "--pool-size", "0", "--pool-size", "4")
    assert rt["zero_shot"] is None and len(rt["retrieval"]) == 4
    # per pool: R@1/5/10 both ways, label-aware P@1/5/10 and mAP image→report
    assert all(0 <= r["mean"] <= 1 for r in rt["summary"]) and len(rt["summary"]) == 2 * (2 * 3 + 4)
    la = rt["retrieval"]["image_to_report@pool4"]["label_aware"]
    assert set(la["precision"]) == {"1", "5", "10"} and 0 <= la["map"] <= 1 and 0 < la["chance"] <= 1
    assert "label_aware" not in rt["retrieval"]["report_to_image@pool4"]
    assert "| label-aware retrieval | pool |" in (rt_dir / "results.md").read_text()
    assert (rt_dir / "retrieval_examples.png").stat().st_size > 0
    _, both = _evaluate(tmp_path, "both", ckpt, "--pool-size", "0")  # cxrvlp evaluate CHECKPOINT --out DIR
    assert both["zero_shot"]["per_label"] and both["retrieval"]
    assert both["protocol"]["checkpoint_sha256"] == zs["protocol"]["checkpoint_sha256"]

    # a reference row beside the checkpoint: one column each, the checkpoint's runs merged into one
    _evaluate(tmp_path, "lin", "linear", "random", "--encoder", "test_resnet", "--image-size", "64", "--adapter",
              "phantom", "--data-root", str(zs["protocol"]["data_root"]), "--labels", "cardiomegaly", "--fractions",
              "100", "--cache-dir", str(tmp_path / "cache"))
    assert main(["report", str(zs_dir), str(rt_dir), str(tmp_path / "lin"), "--out", str(tmp_path / "t.md")]) == 0
    table = (tmp_path / "t.md").read_text().splitlines()
    assert table[0].count("|") == 6  # data set, metric, labels + two models
    assert "random test_resnet" in table[0] and "convirt-tiny" in table[0]
    assert len(table) == 2 + 1 + 20 + 1  # header, rule, zero-shot, retrieval cells, linear AUROC
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def test_several_splits_are_pooled(tiny_checkpoint, tmp_path):
    from cxrvlp.evaluation.zeroshot_retrieval import evaluate
    one = {s: evaluate(tiny_checkpoint, tmp_path / s, split=s, progress=False, tasks=("retrieval",))
           for s in ("validate", "test")}
    both = evaluate(tiny_checkpoint, tmp_path / "both", split=("validate", "test"), progress=False,
                    tasks=("retrieval",))
    assert both["protocol"]["split"] == "validate+test"
    assert both["protocol"]["n_studies"] == sum(r["protocol"]["n_studies"] for r in one.values()) > 0


@pytest.mark.shared_data
def test_covid_notes(tiny_checkpoint, shared_data, tmp_path):
    _, res = _evaluate(tmp_path, "covid", str(tiny_checkpoint), "--adapter", "covid_cxr_notes", "--data-root",
                       str(shared_data / "covid_cxr_notes"), "--pool-size", "0", "--pool-size", "32")
    per_label = res["zero_shot"]["per_label"]
    assert per_label["COVID-19"]["positives"] > 10 and per_label["COVID-19"]["negatives"] > 10
    assert 0.0 <= per_label["COVID-19"]["auroc"] <= 1.0
    assert res["protocol"]["prompts"]["COVID-19"]
    assert {r["pool_size"] for r in res["retrieval"].values()} == {32, res["protocol"]["n_studies"]}
