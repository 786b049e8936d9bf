"""Methods: model classes registered by name (``methods/registry.py``); each built-in recipe
(``methods/recipes/*.yaml``) names one, its options, its objectives and its batch targets."""
from __future__ import annotations

from cxrvlp.methods import dual_encoder, fl, local_dual_encoder, mpma, multiview, sista  # noqa: F401  (registers)
from cxrvlp.methods.dual_encoder import DualEncoder
from cxrvlp.methods.fl import FLModel
from cxrvlp.methods.local_dual_encoder import LocalDualEncoder
from cxrvlp.methods.mpma import MPMAModel
from cxrvlp.methods.multiview import MultiViewEncoder
from cxrvlp.methods.registry import MODELS, build_model, list_models, register_model
from cxrvlp.methods.sista import SISTAModel

__all__ = ["MODELS", "DualEncoder", "FLModel", "LocalDualEncoder", "MPMAModel", "MultiViewEncoder", "SISTAModel",
           "build_model", "list_models", "register_model"]
