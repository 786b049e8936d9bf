"""End-to-end: a tiny pre-training run on a tiny phantom; the loss falls; resuming after a crash continues the run."""

import csv

import lightning as L
import pytest
import torch

from cxrvlp.recipe import load_recipe
from cxrvlp.training.pretrain import pretrain, read_metrics

pytestmark = pytest.mark.slow


def _train_losses(run_dir):
    rows = read_metrics(run_dir)
    per_epoch = {}
    for r in rows:
        if r.get("train/loss"):
            per_epoch.setdefault(int(r["epoch"]), []).append(float(r["train/loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


def test_tiny_pretraining_loss_falls(tiny_phantom, tmp_path):
    cfg = load_recipe("convirt-tiny", [f"data.root={tiny_phantom}", "trainer.max_epochs=12", "optim.lr=5e-3"])
    last = pretrain(cfg, tmp_path / "run", progress=False)
    assert last.is_file() and (tmp_path / "run" / "config.yaml").is_file()
    losses = _train_losses(tmp_path / "run")
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.9 * losses[0], losses


class _CrashAtEpoch(L.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_resume_after_crash_reproduces_uninterrupted_run(tiny_phantom, tmp_path):
    cfg = load_recipe("convirt-tiny", [f"data.root={tiny_phantom}", "trainer.max_epochs=3"])
    straight = pretrain(cfg, tmp_path / "straight", progress=False)

    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain(cfg, tmp_path / "resumed", progress=False, extra_callbacks=[_CrashAtEpoch(2)])
    assert (tmp_path / "resumed" / "checkpoints" / "on_exception.ckpt").is_file()
    resumed = pretrain(cfg, tmp_path / "resumed", progress=False)

    a = torch.load(straight, weights_only=False)
    b = torch.load(resumed, weights_only=False)
    assert a["epoch"] == b["epoch"] and a["global_step"] == b["global_step"]
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=0, rtol=0, msg=key)


def test_resume_refuses_a_different_config(tiny_phantom, tmp_path):
    cfg = load_recipe("convirt-tiny", [f"data.root={tiny_phantom}", "trainer.max_epochs=1"])
    pretrain(cfg, tmp_path / "run", progress=False)
    other = load_recipe("convirt-tiny", [f"data.root={tiny_phantom}", "trainer.max_epochs=1", "optim.lr=0.5"])
    with pytest.raises(ValueError, match="different config"):
        pretrain(other, tmp_path / "run", progress=False)
    # --no-resume starts over (Lightning alone would quietly resume from the old last.ckpt) and keeps the old run
    last = pretrain(other, tmp_path / "run", resume=False, progress=False)
    second = list(csv.DictReader((tmp_path / "run" / "logs" / "attempt-2" / "metrics.csv").open()))
    assert any(r.get("train/loss") for r in second), "the second run did not train"
    assert (tmp_path / "run" / "checkpoints.replaced-1" / "last.ckpt").is_file()
    assert torch.load(last, weights_only=False)["hyper_parameters"]["config"]["optim"]["lr"] == 0.5


@pytest.mark.parametrize("recipe", ["mgca-tiny", "fl-tiny"])
def test_two_process_ddp_pretraining(recipe, tiny_phantom, tmp_path):
    """Lightning DDP on 2 CPU processes (spawned, so the model is unpickled in each): MGCA's text attentions survive
    the pickling, and F-L, whose lateral branch can sit out a batch, gets DDP's unused-parameter search itself."""
    cfg = load_recipe(recipe, [f"data.root={tiny_phantom}", "trainer.max_epochs=1", "trainer.accelerator=cpu",
                               "trainer.devices=2", "trainer.strategy=ddp_spawn", "trainer.torch_threads=1"])
    last = pretrain(cfg, tmp_path / "run", progress=False)
    losses = _train_losses(tmp_path / "run")
    assert last.is_file() and len(losses) == 1 and torch.isfinite(torch.tensor(losses)).all()


def test_ddp_strategy_looks_for_unused_parameters_only_where_needed():
    from cxrvlp.methods.dual_encoder import DualEncoder
    from cxrvlp.methods.fl import FLModel
    from cxrvlp.training.pretrain import ddp_strategy

    assert ddp_strategy("ddp", 2, FLModel.__new__(FLModel)) == "ddp_find_unused_parameters_true"
    assert ddp_strategy("ddp_spawn", 2, FLModel.__new__(FLModel)) == "ddp_spawn_find_unused_parameters_true"
    assert ddp_strategy("auto", 4, FLModel.__new__(FLModel)) == "ddp_find_unused_parameters_true"
    assert ddp_strategy("auto", 1, FLModel.__new__(FLModel)) == "auto"
    assert ddp_strategy("ddp", 2, DualEncoder.__new__(DualEncoder)) == "ddp"
    assert ddp_strategy("fsdp", 2, FLModel.__new__(FLModel)) == "fsdp"
