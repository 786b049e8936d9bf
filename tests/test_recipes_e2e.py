"""End-to-end on the tiny phantom: every built-in ``*-tiny`` recipe pre-trains with a falling loss and `cxrvlp
evaluate` runs on its checkpoint (a new tiny recipe is tested the day it is added); objectives are switched off /
re-weighted from the command line and the run records it."""
import json

import pytest
import yaml

from cxrvlp.cli import main
from cxrvlp.methods.loading import load_pretrained
from cxrvlp.recipe import list_recipes, load_recipe
from cxrvlp.training.pretrain import pretrain, read_metrics
from test_pretrain_e2e import _train_losses

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("recipe", [r for r in list_recipes() if r.endswith("-tiny")])
def test_recipe_pretrains_with_falling_loss_and_evaluates(recipe, tiny_phantom, tmp_path):
    # no augmentation: 8 epochs of 4 steps are enough to see the pairs being told apart on the realistic phantom;
    # the batch-8 image-text terms are noisy from epoch to epoch, so the last three epochs are averaged
    cfg = load_recipe(recipe, [f"data.root={tiny_phantom}", "trainer.max_epochs=8", "optim.lr=2e-3",
                               "data.augment=false"])
    last = pretrain(cfg, tmp_path / "run", progress=False)
    losses = _train_losses(tmp_path / "run")
    assert len(losses) == 8
    assert sum(losses[-3:]) / 3 < 0.9 * losses[0], losses

    assert main(["evaluate", str(last), "--out", str(tmp_path / "eval"), "--pool-size", "0", "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["protocol"]["recipe"] == recipe
    assert metrics["zero_shot"]["per_label"] and metrics["retrieval"]


def test_objectives_switched_off_and_reweighted_from_the_command_line(tiny_phantom, tmp_path):
    run = tmp_path / "run"
    assert main(["pretrain", "mgca-tiny", "--out", str(run), "--data-root", str(tiny_phantom), "--no-progress",
                 "--set", "trainer.max_epochs=1", "--set", "objectives.cpa.enabled=false",
                 "--set", "objectives.cta.weight=0.5"]) == 0
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["objectives"]["cpa"]["enabled"] is False and recorded["objectives"]["cta"]["weight"] == 0.5

    header = list(read_metrics(run)[0])
    assert "train/cta" in header and "train/ita" in header and "train/cpa" not in header
    objectives = load_pretrained(run / "checkpoints" / "last.ckpt").objectives
    assert set(objectives) == {"ita", "cta"} and objectives["cta"].weight == 0.5
