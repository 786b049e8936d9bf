from cxrvlp.objectives.infonce import InfoNCELoss
from cxrvlp.objectives.registry import BoundObjective, build_objectives, list_objectives, register_objective

__all__ = ["InfoNCELoss", "BoundObjective", "build_objectives", "list_objectives", "register_objective"]
