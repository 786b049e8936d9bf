"""Objectives: one small module per loss (formula in its docstring), registered by name with the keys it reads."""
from cxrvlp.objectives import catalog as _catalog  # noqa: F401  (registers the built-in objectives)
from cxrvlp.objectives.gloria import GloriaLocalLoss, word_region_similarity
from cxrvlp.objectives.infonce import InfoNCELoss
from cxrvlp.objectives.limitr import LimitrLocalLoss, SimilarityAttentionFiltration
from cxrvlp.objectives.prototype_alignment import PrototypeAlignmentLoss
from cxrvlp.objectives.registry import (
                                        BoundObjective,
                                        build_objectives,
                                        compute_losses,
                                        frozen_parameters,
                                        list_objectives,
                                        register_objective,
)
from cxrvlp.objectives.sinkhorn import sinkhorn_knopp
from cxrvlp.objectives.token_alignment import TokenAlignmentLoss

__all__ = ["BoundObjective", "GloriaLocalLoss", "InfoNCELoss", "LimitrLocalLoss", "PrototypeAlignmentLoss",
           "SimilarityAttentionFiltration", "TokenAlignmentLoss", "build_objectives", "compute_losses",
           "frozen_parameters", "list_objectives", "register_objective", "sinkhorn_knopp", "word_region_similarity"]
