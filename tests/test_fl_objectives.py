"""F-L losses on hand-computed tiny inputs: multi-view ITC with studies lacking a lateral view, frontal-lateral
alignment with padded reports, high-order alignment, masked LM; and two processes with uneven selections equal one
process on the concatenated batch."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxrvlp.objectives import InfoNCELoss, sinkhorn_knopp
from cxrvlp.objectives.frontal_lateral import FrontalLateralAlignmentLoss
from cxrvlp.objectives.high_order import HighOrderAlignmentLoss
from cxrvlp.objectives.masked_lm import MaskedLMLoss
from cxrvlp.objectives.multiview_itc import MaskedInfoNCELoss, MultiViewITCLoss
from ddp_helpers import run_in_processes


def _ce(row, target):
    return -row[target] + math.log(sum(math.exp(x) for x in row))


# -- global ITC ----------------------------------------------------------------------------------------------------
def test_masked_infonce_hand_computed_and_absent_studies_play_no_part():
    # studies 0 and 2 have a lateral view; study 1 has none (its lateral row is garbage and must not matter)
    lateral = torch.tensor([[1.0, 0.0], [7.0, -3.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    mask = torch.tensor([True, False, True])
    # over studies {0, 2} at tau = 1: s = [[1, 0.6], [0, 0.8]]
    i2t = (_ce([1.0, 0.6], 0) + _ce([0.0, 0.8], 1)) / 2
    t2i = (_ce([1.0, 0.0], 0) + _ce([0.6, 0.8], 1)) / 2
    lat = lateral.clone().requires_grad_(True)
    loss = MaskedInfoNCELoss(temperature=1.0)(lat, text, mask)
    assert loss.item() == pytest.approx(0.5 * i2t + 0.5 * t2i, abs=1e-6)
    loss.backward()
    assert lat.grad[1].abs().sum() == 0 and lat.grad[0].abs().sum() > 0
    all_true = torch.ones(3, dtype=torch.bool)
    assert MaskedInfoNCELoss(0.1)(lateral, text, all_true).item() == pytest.approx(
        InfoNCELoss(0.1)(lateral, text).item(), abs=1e-6)
    assert MaskedInfoNCELoss(0.1)(lateral, text, torch.zeros(3, dtype=torch.bool)).item() == 0.0


def test_multiview_itc_is_half_the_view_terms_plus_the_fused_term():
    torch.manual_seed(0)
    f, lat, fused, t = (torch.randn(4, 8) for _ in range(4))
    mask = torch.tensor([True, False, True, True])
    itc = MultiViewITCLoss(temperature=0.1)
    ref = InfoNCELoss(0.1)
    keep = mask.nonzero().flatten()
    expected = 0.5 * (ref(f, t) + ref(lat[keep], t[keep])) + ref(fused, t)
    assert itc(f, lat, mask, fused, t).item() == pytest.approx(expected.item(), abs=1e-5)
    learnable = MultiViewITCLoss(temperature=0.1, learnable=True)
    learnable(f, lat, mask, fused, t).backward()
    assert learnable.log_scale.grad is not None and learnable.log_scale.grad != 0
    with pytest.raises(ValueError):
        MaskedInfoNCELoss()(f, t, mask[:3])


# -- frontal-lateral alignment -------------------------------------------------------------------------------------
def test_frontal_lateral_alignment_hand_computed_with_a_padded_report():
    # one study, three token slots of which the last is padding; tau = 1
    q_f = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    q_l = torch.tensor([[[0.6, 0.8], [0.0, 1.0], [-5.0, 2.0]]])
    mask = torch.tensor([[True, True, False]])
    s = [[0.6, 0.0], [0.8, 1.0]]  # s_ij = q_f_i . q_l_j over the two real tokens
    rows = _ce(s[0], 0) + _ce(s[1], 1)
    cols = _ce([s[0][0], s[1][0]], 0) + _ce([s[0][1], s[1][1]], 1)
    expected = 0.5 * (rows + cols) / 2
    loss = FrontalLateralAlignmentLoss(temperature=1.0)
    assert loss(q_f, q_l, mask).item() == pytest.approx(expected, abs=1e-6)
    changed = q_l.clone()
    changed[0, 2] = torch.tensor([9.0, -9.0])  # the padding slot is neither an anchor nor a negative
    assert loss(q_f, changed, mask).item() == pytest.approx(expected, abs=1e-6)


def test_frontal_lateral_alignment_averages_studies_and_takes_an_empty_batch():
    torch.manual_seed(1)
    q_f, q_l = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    loss = FrontalLateralAlignmentLoss(0.07)
    per_study = [loss(q_f[i : i + 1], q_l[i : i + 1], mask[i : i + 1]).item() for i in range(2)]
    assert loss(q_f, q_l, mask).item() == pytest.approx(sum(per_study) / 2, abs=1e-5)
    assert loss(torch.zeros(0, 4, 8), torch.zeros(0, 4, 8), torch.zeros(0, 4, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ValueError):
        loss(q_f, q_l[:1], mask)


# -- high-order alignment ------------------------------------------------------------------------------------------
def test_high_order_alignment_hand_computed_codes():
    # two prototypes along the axes; symmetric report scores make the Sinkhorn codes the row softmax of s / eps
    loss = HighOrderAlignmentLoss(dim=2, num_prototypes=2, epsilon=0.5, iterations=3, temperature=1.0)
    with torch.no_grad():
        loss.prototypes.weight.copy_(torch.eye(2))
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # s_t = I -> codes softmax([2, 0]), softmax([0, 2])
    frontal = torch.tensor([[0.6, 0.8], [0.8, 0.6]])
    lateral = torch.tensor([[1.0, 0.0], [3.0, 3.0]])  # study 1 has no lateral view
    mask = torch.tensor([True, False])
    q = torch.softmax(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), dim=1)
    logp_f = torch.log_softmax(frontal, dim=1)
    logp_l = torch.log_softmax(torch.tensor([[1.0, 0.0]]), dim=1)
    expected = 0.5 * (-(q * logp_f).sum(1).mean() - (q[:1] * logp_l).sum(1).mean())
    assert loss(frontal, lateral, mask, text).item() == pytest.approx(expected.item(), abs=1e-6)


def test_high_order_alignment_matches_formula_on_random_inputs_and_freezes():
    torch.manual_seed(2)
    loss = HighOrderAlignmentLoss(dim=8, num_prototypes=5)
    f, lat, t = torch.randn(6, 8), torch.randn(6, 8), torch.randn(6, 8)
    mask = torch.tensor([1, 1, 0, 1, 0, 1]).bool()
    c = F.normalize(loss.prototypes.weight, dim=-1)
    codes = sinkhorn_knopp(F.normalize(t, dim=-1) @ c.T, 0.07, 3)
    ce = [-(codes * F.log_softmax(F.normalize(v, dim=-1) @ c.T / 0.1, dim=-1)).sum(1) for v in (f, lat)]
    expected = 0.5 * (ce[0].mean() + ce[1][mask].mean())
    value = loss(f, lat, mask, t)
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    value.backward()
    assert loss.prototypes.weight.grad.abs().sum() > 0
    assert loss.frozen_parameters(0) and not loss.frozen_parameters(1)
    with pytest.raises(ValueError):
        loss(f, lat, mask, torch.randn(6, 4))


# -- masked LM -----------------------------------------------------------------------------------------------------
def test_masked_lm_hand_computed():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    targets = torch.tensor([0, 1])
    expected = (_ce([2.0, 0.0, 0.0], 0) + _ce([0.0, 1.0, 3.0], 1)) / 2
    assert MaskedLMLoss()(logits, targets).item() == pytest.approx(expected, abs=1e-6)
    empty = torch.zeros(0, 3, requires_grad=True)
    assert MaskedLMLoss()(empty, torch.zeros(0, dtype=torch.long)).item() == 0.0
    with pytest.raises(ValueError):
        MaskedLMLoss()(logits, targets[:1])


# -- two processes with uneven selections ------------------------------------------------------------------------
def _losses(f, lat, mask, t, q_f, q_l, q_mask, logits, targets):
    """All four losses and their input gradients for one process's share."""
    torch.manual_seed(0)  # identical prototypes in every process
    hsa = HighOrderAlignmentLoss(dim=f.shape[1], num_prototypes=4)
    tensors = [x.clone().requires_grad_(True) for x in (f, lat, t, q_f, q_l, logits)]
    f, lat, t, q_f, q_l, logits = tensors
    total = (MaskedInfoNCELoss(0.1)(lat, t, mask) + FrontalLateralAlignmentLoss(0.07)(q_f, q_l, q_mask)
             + hsa(f, lat, mask, t) + MaskedLMLoss()(logits, targets))
    return total, tensors


def _rank(rank, world, data):
    import torch.distributed as dist

    b = data["f"].shape[0] // world
    rows = slice(rank * b, (rank + 1) * b)
    lat_rows = (data["lat_index"] >= rank * b) & (data["lat_index"] < (rank + 1) * b)
    m_rows = data["mlm_study"] // b == rank
    total, tensors = _losses(data["f"][rows], data["lat"][rows], data["mask"][rows], data["t"][rows],
                             data["q_f"][lat_rows], data["q_l"][lat_rows], data["q_mask"][lat_rows],
                             data["logits"][m_rows], data["targets"][m_rows])
    (total / world).backward()  # DDP averages gradients over processes
    value = total.detach().clone()
    dist.all_reduce(value)
    return value.item() / world, [x.grad.numpy().copy() for x in tensors]


def test_two_processes_with_uneven_selections_equal_one_process():
    torch.manual_seed(3)
    b, d, t_len, vocab = 4, 8, 5, 7
    data = {"f": torch.randn(2 * b, d), "lat": torch.randn(2 * b, d), "t": torch.randn(2 * b, d),
            # rank 0 has one study with a lateral view, rank 1 all four
            "mask": torch.tensor([0, 0, 1, 0, 1, 1, 1, 1]).bool()}
    data["lat_index"] = data["mask"].nonzero().flatten()
    n_lat = data["lat_index"].numel()
    data["q_f"], data["q_l"] = torch.randn(n_lat, t_len, d), torch.randn(n_lat, t_len, d)
    data["q_mask"] = torch.arange(t_len).expand(n_lat, t_len) < torch.tensor([5, 3, 4, 2, 5]).unsqueeze(1)
    data["mlm_study"] = torch.tensor([0, 5, 5, 6, 6, 6, 7])  # 1 masked token on rank 0, 6 on rank 1
    data["logits"], data["targets"] = torch.randn(7, vocab), torch.randint(0, vocab, (7,))

    ref_total, ref_tensors = _losses(data["f"], data["lat"], data["mask"], data["t"], data["q_f"], data["q_l"],
                                     data["q_mask"], data["logits"], data["targets"])
    ref_total.backward()
    results = run_in_processes(_rank, 2, data)
    assert results[0][0] == pytest.approx(ref_total.item(), abs=1e-5)
    row_splits = [torch.arange(2 * b) // b, data["lat_index"] // b, data["mlm_study"] // b]
    for k, which in enumerate([0, 0, 0, 1, 1, 2]):  # f, lat, t: study rows; q_f, q_l: lateral rows; logits
        got = np.concatenate([r[1][k] for r in results])
        ref = ref_tensors[k].grad[torch.cat([(row_splits[which] == r).nonzero().flatten() for r in range(2)])]
        torch.testing.assert_close(torch.from_numpy(got), ref, atol=1e-6, rtol=1e-4)
