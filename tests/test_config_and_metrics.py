import numpy as np
import pytest
import torch

from cxrvlp.evaluation.metrics import auroc, recall_at_k
from cxrvlp.optim import warmup_cosine
from cxrvlp.recipe import list_recipes, load_recipe


def test_recipe_inheritance_and_overrides():
    cfg = load_recipe("convirt-tiny", ["optim.lr=0.5", "objectives.itc.temperature=0.2", "data.batch_size=3"])
    assert cfg.name == "convirt-tiny" and cfg.optim.lr == 0.5 and cfg.data.batch_size == 3
    assert cfg.objectives["itc"]["temperature"] == 0.2
    assert cfg.objectives["itc"]["image_to_text_weight"] == 0.75  # inherited from convirt
    assert {"convirt", "convirt-tiny"} <= set(list_recipes())


def test_unknown_keys_are_errors():
    with pytest.raises(KeyError, match="unknown key"):
        load_recipe("convirt-tiny", ["optim.learning_rate=1"])
    with pytest.raises(KeyError, match="unknown section"):
        load_recipe("convirt-tiny", ["optimiser.lr=1"])
    with pytest.raises(FileNotFoundError, match="recipe"):
        load_recipe("no-such-recipe")


def test_warmup_cosine():
    assert warmup_cosine(0, 100, 10, 0.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 0.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 0.1) == pytest.approx(0.1)


def test_recall_at_k_hand_example():
    q = torch.eye(3)
    g = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # query 0 right; 1 and 2 swapped
    r = recall_at_k(q, g, ks=(1, 2))
    assert r[1] == pytest.approx(1 / 3) and r[2] == pytest.approx(1.0)
    pooled = recall_at_k(torch.eye(4), torch.eye(4), ks=(1,), pool_size=2, seed=3)
    assert pooled[1] == 1.0
    with pytest.raises(ValueError):
        recall_at_k(torch.eye(3), torch.eye(3), pool_size=4)


def test_auroc_ignores_unlabelled_and_nan_when_one_class():
    s = np.array([0.1, 0.9, 0.5, 0.3])
    assert auroc(s, np.array([0, 1, np.nan, -1])) == 1.0
    assert np.isnan(auroc(s, np.array([1, 1, 1, 1])))


def test_exponent_floats_in_overrides_are_numbers():
    cfg = load_recipe("convirt-tiny", ["optim.lr=2e-3", "optim.weight_decay=1E-6"])
    assert cfg.optim.lr == 0.002 and cfg.optim.weight_decay == 1e-6


def test_freeze_prefixes_stop_training_and_typos_fail():
    from torch import nn

    from cxrvlp.training.pretrain import freeze_parameters

    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    assert freeze_parameters(model, ["0."]) == 2
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    with pytest.raises(KeyError, match="no parameter"):
        freeze_parameters(model, ["2."])
