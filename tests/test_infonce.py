import math

import numpy as np
import pytest
import torch

from cxrvlp.objectives import InfoNCELoss
from ddp_helpers import run_in_processes


def _ce(logits_row, target):
    return -logits_row[target] + math.log(sum(math.exp(x) for x in logits_row))


def test_hand_computed_two_pairs():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # already unit norm
    # s_ij = v_i . t_j / tau with tau = 1: [[1, 0.6], [0, 0.8]]
    i2t = (_ce([1.0, 0.6], 0) + _ce([0.0, 0.8], 1)) / 2
    t2i = (_ce([1.0, 0.0], 0) + _ce([0.6, 0.8], 1)) / 2
    assert InfoNCELoss(temperature=1.0)(image, text).item() == pytest.approx(0.5 * i2t + 0.5 * t2i, abs=1e-6)
    assert InfoNCELoss(temperature=1.0, image_to_text_weight=0.75)(image, text).item() == pytest.approx(
        0.75 * i2t + 0.25 * t2i, abs=1e-6)


def test_temperature_scales_logits_and_inputs_are_normalised():
    image = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # normalised inside the loss
    text = torch.tensor([[5.0, 0.0], [3.0, 4.0]])
    i2t = (_ce([10.0, 6.0], 0) + _ce([0.0, 8.0], 1)) / 2
    t2i = (_ce([10.0, 0.0], 0) + _ce([6.0, 8.0], 1)) / 2
    assert InfoNCELoss(temperature=0.1)(image, text).item() == pytest.approx((i2t + t2i) / 2, abs=1e-5)


def test_learnable_temperature_gets_gradient_and_bad_args_fail():
    loss = InfoNCELoss(temperature=0.07, learnable=True)
    loss(torch.randn(4, 8), torch.randn(4, 8)).backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad.abs() > 0
    with pytest.raises(ValueError):
        InfoNCELoss(temperature=0.0)
    with pytest.raises(ValueError):
        InfoNCELoss(image_to_text_weight=1.5)
    with pytest.raises(ValueError):
        InfoNCELoss()(torch.randn(3, 4), torch.randn(2, 4))


def _rank_loss_and_grads(rank, world, image, text):
    import torch.distributed as dist

    b = image.shape[0] // world
    img = image[rank * b : (rank + 1) * b].clone().requires_grad_(True)
    txt = text[rank * b : (rank + 1) * b].clone().requires_grad_(True)
    loss = InfoNCELoss(temperature=0.1, image_to_text_weight=0.75)(img, txt)
    (loss / world).backward()  # DDP averages gradients over processes; emulate that
    total = loss.detach().clone()
    dist.all_reduce(total)
    return total.item() / world, img.grad.numpy().copy(), txt.grad.numpy().copy()


def test_two_process_gather_equals_single_process():
    torch.manual_seed(0)
    image, text = torch.randn(8, 16), torch.randn(8, 16)
    ref_img, ref_txt = image.clone().requires_grad_(True), text.clone().requires_grad_(True)
    ref = InfoNCELoss(temperature=0.1, image_to_text_weight=0.75)(ref_img, ref_txt)
    ref.backward()

    results = run_in_processes(_rank_loss_and_grads, 2, image, text)
    assert results[0][0] == pytest.approx(ref.item(), abs=1e-5)
    torch.testing.assert_close(torch.from_numpy(np.concatenate([r[1] for r in results])), ref_img.grad,
                               atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(np.concatenate([r[2] for r in results])), ref_txt.grad,
                               atol=1e-6, rtol=1e-4)
