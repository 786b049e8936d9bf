"""End to end on the tiny phantom: fl-tiny pre-trains with a falling loss, `cxrvlp evaluate` runs on its checkpoint
(fused frontal + lateral embedding) and `cxrvlp explain` draws a heat map over both views."""
import json

import pytest
from PIL import Image

from cxrvlp.cli import main
from cxrvlp.recipe import load_recipe
from cxrvlp.training.pretrain import pretrain
from test_pretrain_e2e import _train_losses

pytestmark = pytest.mark.slow



def test_fl_tiny_pretrains_evaluates_and_explains(tiny_phantom, tmp_path, one_thread):
    cfg = load_recipe("fl-tiny", [f"data.root={tiny_phantom}", "trainer.max_epochs=5", "optim.lr=2e-3",
                                  "data.augment=false"])
    last = pretrain(cfg, tmp_path / "run", progress=False)
    losses = _train_losses(tmp_path / "run")
    assert len(losses) == 5
    assert (losses[-1] + losses[-2]) / 2 < 0.9 * losses[0], losses

    assert main(["evaluate", str(last), "--out", str(tmp_path / "eval"), "--pool-size", "0", "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["protocol"]["recipe"] == "fl-tiny"
    assert metrics["zero_shot"]["per_label"] and metrics["retrieval"]

    study = next(d for d in sorted((tiny_phantom / "files").glob("p*/p*/s*")) if len(list(d.glob("*.jpg"))) == 2)
    png = tmp_path / "explain.png"
    assert main(["explain", str(last), "--study-dir", str(study), "--phrase", "small left pleural effusion",
                 "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 400 and im.height > 400
    frontal = next(study.glob("*.jpg"))
    assert main(["explain", str(last), "--frontal", str(frontal), "--phrase", "cardiomegaly",
                 "--out", str(tmp_path / "frontal_only.png")]) == 0
    assert main(["explain", str(last), "--lateral", str(frontal), "--study-dir", str(study), "--phrase", "x",
                 "--out", str(tmp_path / "bad.png")]) == 2  # a study folder brings its own views
