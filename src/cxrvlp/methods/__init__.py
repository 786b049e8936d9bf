"""Methods: model classes by name; each built-in recipe (``methods/recipes/*.yaml``) names one and its parts."""
from __future__ import annotations

from cxrvlp.methods.dual_encoder import DualEncoder
from cxrvlp.methods.fl import FLModel
from cxrvlp.methods.local_dual_encoder import LocalDualEncoder
from cxrvlp.methods.multiview import MultiViewEncoder

MODELS = {"dual_encoder": DualEncoder, "local_dual_encoder": LocalDualEncoder, "multiview": MultiViewEncoder,
          "fl": FLModel}


def build_model(config: dict):
    name = config.get("model", "dual_encoder")
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](config)
