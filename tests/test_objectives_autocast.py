"""Every registered objective under CPU autocast in bfloat16 and float16, with its float inputs in that dtype as a
model under autocast gives them: finite, and within a stated tolerance of float32 (masks filled with the float32
minimum used to overflow 16-bit logits)."""
import pytest
import torch

from cxrvlp.objectives import list_objectives
from test_objectives_registry import _example

REL = 0.05  # bf16 keeps 8 bits of mantissa (fp16 11): a loss of a few units agrees to a few per cent


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list_objectives())
def test_objective_under_16_bit_autocast(name, dtype):
    entry, inputs, loss = _example(name)
    args = [inputs[k] for k in entry.inputs]
    reference = float(loss(*args).detach())
    half = [a.to(dtype) if a.is_floating_point() else a for a in args]
    for a in half:
        if a.is_floating_point():
            a.requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype):
        value = loss(*half)
    assert torch.isfinite(value), f"{name}: {value}"
    value.float().backward()
    assert all(torch.isfinite(a.grad).all() for a in half if a.is_floating_point() and a.grad is not None)
    assert float(value.detach()) == pytest.approx(reference, rel=REL, abs=0.02), name
