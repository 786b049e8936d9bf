"""Checkpoints written before the library step (model keys without the ``model.`` prefix, ``data.max_length``,
F-L's ``model_options.masking``) still load and give the same embeddings; a mismatch is a clear error."""
import pytest
import torch

from cxrvlp.methods.loading import load_model
from cxrvlp.recipe import from_dict, load_recipe, migrate
from cxrvlp.training.task import PretrainTask


def _old_style(task: PretrainTask) -> dict:
    return {k[len("model."):] if k.startswith("model.") else k: v for k, v in task.state_dict().items()}


def test_an_old_checkpoint_loads_with_the_same_embeddings(tmp_path):
    config = load_recipe("convirt-tiny").to_dict()
    torch.manual_seed(0)
    task = PretrainTask(config).eval()
    old_config = {**config, "data": {**config["data"], "max_length": 40}}
    old_config["text_encoder"] = {k: v for k, v in config["text_encoder"].items() if k != "max_length"}
    path = tmp_path / "old.ckpt"
    torch.save({"hyper_parameters": {"config": old_config}, "state_dict": _old_style(task)}, path)
    model = load_model(path)
    assert model.text_encoder.max_length == 40  # the length training used moved to its one place
    images = torch.randn(2, 1, 64, 64)
    torch.testing.assert_close(model.embed_images(images), task.model.embed_images(images), atol=0, rtol=0)

    broken = _old_style(task)
    broken.pop("image_proj.0.weight")
    torch.save({"hyper_parameters": {"config": old_config}, "state_dict": broken}, path)
    with pytest.raises(RuntimeError, match="missing .*image_proj.0.weight"):
        load_model(path)


def test_migrate_moves_fl_masking_into_the_batch_targets():
    raw = load_recipe("fl-tiny").to_dict()
    raw["model_options"]["masking"] = {"pathology": 0.5}
    raw["data"] = {k: v for k, v in raw["data"].items() if k != "targets"}
    cfg = from_dict(raw)
    assert "masking" not in cfg.model_options
    assert cfg.data.targets == [{"name": "pathology_masking", "pathology": 0.5}]
    assert migrate(migrate(raw)) == migrate(raw)


class _Payload:
    """Stands for anything a pickle can carry: unpickling it could run code."""


def test_a_checkpoint_carrying_a_pickled_object_is_refused(tmp_path):
    config = load_recipe("convirt-tiny").to_dict()
    task = PretrainTask(config)
    path = tmp_path / "shared.ckpt"
    torch.save({"hyper_parameters": {"config": config}, "state_dict": task.state_dict(), "extra": _Payload()}, path)
    with pytest.raises(ValueError, match="refused: .*weights_only=True"):
        load_model(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_model(path)
