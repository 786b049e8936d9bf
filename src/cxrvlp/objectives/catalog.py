"""The built-in objectives, registered with the output keys they read by default and a small example input each
(batch first along dim 0; the generic tests split it over two processes)."""
from __future__ import annotations

import torch

from cxrvlp.objectives.frontal_lateral import FrontalLateralAlignmentLoss
from cxrvlp.objectives.gloria import GloriaLocalLoss
from cxrvlp.objectives.high_order import HighOrderAlignmentLoss
from cxrvlp.objectives.infonce import InfoNCELoss
from cxrvlp.objectives.limitr import LimitrLocalLoss
from cxrvlp.objectives.masked_image import MaskedPatchLoss
from cxrvlp.objectives.masked_lm import MaskedLMLoss
from cxrvlp.objectives.multiview_itc import MaskedInfoNCELoss, MultiViewITCLoss
from cxrvlp.objectives.prototype_alignment import PrototypeAlignmentLoss
from cxrvlp.objectives.registry import register_objective
from cxrvlp.objectives.semantic_instance import SemanticInstanceAlignmentLoss
from cxrvlp.objectives.sparse_token import SparseTokenAlignmentLoss
from cxrvlp.objectives.token_alignment import TokenAlignmentLoss

DIM = 8


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


def _token_mask(g: torch.Generator, b: int, n: int) -> torch.Tensor:
    """Each row keeps a random number (at least 1) of leading tokens."""
    lengths = torch.randint(1, n + 1, (b,), generator=g)
    return torch.arange(n).unsqueeze(0) < lengths.unsqueeze(1)


def _pair(b, g):
    return {"image_emb": _randn(g, b, DIM), "text_emb": _randn(g, b, DIM)}, {}


def _local(b, g, regions=6, words=5):
    return {"region_emb": _randn(g, b, regions, DIM), "region_mask": torch.ones(b, regions, dtype=torch.bool),
            "word_emb": _randn(g, b, words, DIM), "word_mask": _token_mask(g, b, words)}


def _views(b, g):
    mask = torch.arange(b) % 2 == 0  # every other study has a lateral view: both halves of a split get some
    return {"image_emb": _randn(g, b, DIM), "lateral_emb": _randn(g, b, DIM) * mask.unsqueeze(1),
            "lateral_mask": mask, "fused_emb": _randn(g, b, DIM), "text_emb": _randn(g, b, DIM)}


def _token_alignment(b, g):
    inputs = _local(b, g)
    return {**inputs, "region_attn": torch.rand(b, 6, generator=g), "word_attn": torch.rand(b, 5, generator=g)}, {}


def _masked_lm(b, g):
    vocab = 11
    return {"mlm_logits": _randn(g, 3 * b, vocab), "mlm_targets": torch.randint(vocab, (3 * b,), generator=g)}, {}


def _fla(b, g):
    return {"fla_frontal": _randn(g, b, 5, DIM), "fla_lateral": _randn(g, b, 5, DIM),
            "fla_mask": _token_mask(g, b, 5)}, {}


register_objective("infonce", ("image_emb", "text_emb"), _pair)(InfoNCELoss)
register_objective("gloria_local", ("region_emb", "region_mask", "word_emb", "word_mask"),
                   lambda b, g: (_local(b, g), {}))(GloriaLocalLoss)
register_objective("token_alignment", ("region_emb", "region_mask", "region_attn", "word_emb", "word_mask",
                                       "word_attn"), _token_alignment)(TokenAlignmentLoss)
register_objective("prototype_alignment", ("image_emb", "text_emb"),
                   lambda b, g: (_pair(b, g)[0], {"num_prototypes": 4, "freeze_epochs": 0}))(PrototypeAlignmentLoss)
register_objective("limitr_local", ("region_emb", "region_mask", "word_emb", "word_mask"),
                   lambda b, g: (_local(b, g), {"dropout": 0.0}))(LimitrLocalLoss)
# F-L
register_objective("masked_infonce", ("lateral_emb", "text_emb", "lateral_mask"),
                   lambda b, g: ({k: v for k, v in _views(b, g).items()
                                  if k in ("lateral_emb", "text_emb", "lateral_mask")}, {}))(MaskedInfoNCELoss)
register_objective("multiview_itc", ("image_emb", "lateral_emb", "lateral_mask", "fused_emb", "text_emb"),
                   lambda b, g: (_views(b, g), {}))(MultiViewITCLoss)
register_objective("masked_lm", ("mlm_logits", "mlm_targets"), _masked_lm)(MaskedLMLoss)
register_objective("frontal_lateral_alignment", ("fla_frontal", "fla_lateral", "fla_mask"), _fla)(
    FrontalLateralAlignmentLoss)
register_objective("high_order_alignment", ("image_emb", "lateral_emb", "lateral_mask", "text_emb"),
                   lambda b, g: ({k: v for k, v in _views(b, g).items() if k != "fused_emb"},
                                 {"num_prototypes": 4, "freeze_epochs": 0}))(HighOrderAlignmentLoss)
# SISTA


def _sia(b, g):
    emb = _randn(g, b, DIM)
    emb[1] = emb[0]  # studies 0 and 1 have the same report; 2 and 3 state the same findings
    findings = torch.zeros(b, 5)
    findings[2:4, 1] = 1.0
    findings[4::2, 3] = 1.0
    return {**_pair(b, g)[0], "report_sim_emb": emb, "report_findings": findings}, {}


def _sta(b, g):
    inputs = _local(b, g, regions=9)
    return {"region_emb": inputs["region_emb"], "region_mask": inputs["region_mask"], "word_emb": inputs["word_emb"],
            "content_word_mask": inputs["word_mask"]}, {}


register_objective("semantic_instance_alignment", ("image_emb", "text_emb", "report_sim_emb", "report_findings"),
                   _sia)(SemanticInstanceAlignmentLoss)
register_objective("sparse_token_alignment", ("region_emb", "region_mask", "word_emb", "content_word_mask"),
                   _sta)(SparseTokenAlignmentLoss)
# MPMA


def _mim(b, g):
    mask = torch.zeros(b, 6, dtype=torch.bool)
    mask[:, :4] = True
    return {"mim_pred": _randn(g, b, 6, 12), "mim_target": _randn(g, b, 6, 12), "mim_mask": mask}, {}


register_objective("masked_patch_mse", ("mim_pred", "mim_target", "mim_mask"), _mim)(MaskedPatchLoss)
