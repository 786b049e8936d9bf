"""Every registered objective, from the example input it registers with (as timm's test_models.py over
list_models()): a finite scalar, a gradient that reaches its inputs, and the same value and input gradients on two
gloo processes as on one process over the whole batch. A new objective is tested the day it is registered."""
import numpy as np
import pytest
import torch

from cxrvlp.objectives import build_objectives, compute_losses, list_objectives
from cxrvlp.objectives.registry import objective_entry, register_objective, unregister_objective
from ddp_helpers import run_in_processes

BATCH = 8


def _example(name: str):
    entry = objective_entry(name)
    assert entry.example is not None, f"objective {name!r} registers no example input"
    inputs, kwargs = entry.example(BATCH, torch.Generator().manual_seed(0))
    if entry.takes_dim():  # as build_objectives does: the width of the first input
        kwargs = {"dim": inputs[entry.inputs[0]].shape[-1], **kwargs}
    torch.manual_seed(0)  # objectives with parameters start from the same weights in every process
    loss = entry.builder(**kwargs)
    return entry, inputs, loss


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.clone().requires_grad_(True) if x.is_floating_point() else x.clone()


def _run(name: str, inputs: dict, rank: int = 0, world: int = 1):
    entry, _, loss = _example(name)
    args = []
    for key in entry.inputs:
        x = inputs[key]
        n = x.shape[0] // world
        args.append(_leaf(x[rank * n:(rank + 1) * n]))
    value = loss(*args)
    (value / world).backward()  # DDP averages gradients over processes: emulate that
    grads = {k: (a.grad.numpy().copy() if a.grad is not None else None) for k, a in zip(entry.inputs, args)
             if a.is_floating_point()}
    return float(value.detach()), grads


def _all_on_ranks(rank, world, names):
    import torch.distributed as dist

    out = {}
    for name in names:
        _, inputs, _ = _example(name)
        value, grads = _run(name, inputs, rank, world)
        total = torch.tensor(value)
        dist.all_reduce(total)
        out[name] = (float(total) / world, grads)
    return out


@pytest.mark.parametrize("name", list_objectives())
def test_objective_is_finite_and_differentiable(name):
    entry, inputs, _ = _example(name)
    assert set(entry.inputs) <= set(inputs), f"{name}: the example lacks {set(entry.inputs) - set(inputs)}"
    value, grads = _run(name, inputs)
    assert np.isfinite(value)
    reached = [k for k, g in grads.items() if g is not None and np.abs(g).sum() > 0]
    assert reached, f"{name}: no gradient reached any of its inputs {list(grads)}"
    assert all(np.isfinite(g).all() for g in grads.values() if g is not None)


def test_every_objective_on_two_processes_equals_one_process():
    names = list_objectives()
    single = {}
    for name in names:
        _, inputs, _ = _example(name)
        single[name] = _run(name, inputs)
    ranks = run_in_processes(_all_on_ranks, 2, names, timeout=300)
    for name in names:
        value, grads = single[name]
        assert ranks[0][name][0] == pytest.approx(value, rel=1e-4, abs=1e-5), name
        for key, grad in grads.items():
            if grad is None:
                continue
            joined = np.concatenate([r[name][1][key] for r in ranks])
            np.testing.assert_allclose(joined, grad, rtol=1e-3, atol=1e-5, err_msg=f"{name}: d/d{key}")


class _LabelledImages(torch.nn.Module):
    """A throw-away objective: a linear read-out of the image embedding fitted to the batch's labels."""

    def __init__(self, dim: int, num_labels: int = 3):
        super().__init__()
        self.head = torch.nn.Linear(dim, num_labels)

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        known = ~labels.isnan()
        logits = self.head(image)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits[known], labels[known])


def test_a_new_objective_reads_a_batch_target_and_trains_a_step():
    from cxrvlp.methods.loading import build_pretraining
    from cxrvlp.recipe import load_recipe

    register_objective("labelled_images_test", ("image_emb", "labels"))(_LabelledImages)
    try:
        cfg = load_recipe("convirt-tiny", ["objectives.probe.name=labelled_images_test"])
        model, objectives = build_pretraining(cfg)
        assert objectives["probe"].loss.head.in_features == 32  # dim derived from image_emb
        texts = ["Small left pleural effusion.", "No acute findings.", "Cardiomegaly.", "Right pneumothorax."]
        batch = {"frontal": torch.randn(4, 1, 64, 64), **model.text_encoder.tokenize(texts),
                 "labels": torch.tensor([[1.0, 0, float("nan")], [0, 0, 0], [0, 1, 0], [0, 0, 1]])}
        params = list(model.parameters()) + list(objectives.parameters())
        optimiser = torch.optim.SGD(params, lr=0.5)
        before = objectives["probe"].loss.head.weight.detach().clone()
        terms = compute_losses(objectives, model(batch), batch)
        assert set(terms) == {"itc", "probe", "loss"}
        terms["loss"].backward()
        optimiser.step()
        assert not torch.equal(objectives["probe"].loss.head.weight, before)
        with pytest.raises(KeyError, match="labels"):
            compute_losses(objectives, model(batch), {})
    finally:
        unregister_objective("labelled_images_test")


def test_objective_width_is_derived_and_a_disagreeing_one_rejected():
    built = build_objectives({"cpa": {"name": "prototype_alignment", "num_prototypes": 4}}, {"image_emb": 16})
    assert built["cpa"].loss.prototypes.in_features == 16
    with pytest.raises(ValueError, match="derived"):
        build_objectives({"cpa": {"name": "prototype_alignment", "dim": 8}}, {"image_emb": 16})
