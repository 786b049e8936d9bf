"""Detection on a frozen (or fine-tuned) encoder from torchvision's components: a feature pyramid network
(``torchvision.ops.FeaturePyramidNetwork`` over the stride ≥ 8 levels, P6/P7 added by ``LastLevelP6P7``) and the
FCOS head, anchors, loss and post-processing of ``torchvision.models.detection.FCOS``. The model takes the
encoder's pyramid instead of images, so the encoder runs once per image when it is frozen (cached features).

Metric: COCO mean average precision over IoU thresholds 0.40, 0.45, …, 0.75 (MGCA's RSNA protocol), from
``torchmetrics.detection.MeanAveragePrecision`` (needs pycocotools).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from cxrvlp.evaluation.segmentation import resample_pyramid

IOU_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.40, 0.751, 0.05), 2))
MIN_STRIDE = 8


class PyramidNeck(nn.Module):
    """Encoder maps (finest first) → FPN levels P3…P7 (``OrderedDict``, ``out_channels`` each)."""

    def __init__(self, in_channels: list[int], strides: list[int], image_size: int, out_channels: int = 64):
        super().__init__()
        from cxrvlp.evaluation.features import target_strides

        self.strides, self.image_size = list(strides), image_size
        self.keep = [i for i, s in enumerate(target_strides(strides)) if s >= MIN_STRIDE]
        if not self.keep:
            raise ValueError(f"detection needs pyramid levels at stride >= {MIN_STRIDE}; got strides {strides}")
        self.fpn = FeaturePyramidNetwork([in_channels[i] for i in self.keep], out_channels,
                                         extra_blocks=LastLevelP6P7(out_channels, out_channels))
        self.out_channels = out_channels
        self.level_strides = [target_strides(strides)[i] for i in self.keep]
        self.level_strides += [self.level_strides[-1] * 2, self.level_strides[-1] * 4]

    def forward(self, maps: list[torch.Tensor]) -> OrderedDict:
        maps = resample_pyramid(maps, self.strides, self.image_size)
        return self.fpn(OrderedDict((str(i), maps[i]) for i in self.keep))


class PyramidFCOS(FCOS):
    """torchvision FCOS whose ``backbone`` is a :class:`PyramidNeck`: call it with the encoder's maps."""

    def __init__(self, in_channels: list[int], strides: list[int], num_classes: int, image_size: int,
                 fpn_channels: int = 64, head_convs: int = 2, score_thresh: float = 0.05):
        neck = PyramidNeck(in_channels, strides, image_size, fpn_channels)
        anchors = AnchorGenerator(tuple((s,) for s in neck.level_strides), ((1.0,),) * len(neck.level_strides))
        head = FCOSHead(fpn_channels, anchors.num_anchors_per_location()[0], num_classes, num_convs=head_convs)
        super().__init__(neck, num_classes, min_size=image_size, max_size=image_size, image_mean=[0.0],
                         image_std=[1.0], anchor_generator=anchors, head=head, score_thresh=score_thresh)
        self.image_size = image_size

    def forward(self, maps: list[torch.Tensor], targets: list[dict] | None = None):
        """Losses (dict) when ``targets`` are given, else one detection dict per image (boxes in crop pixels)."""
        features = list(self.backbone(maps).values())
        head_outputs = self.head(features)
        b, s = maps[0].shape[0], self.image_size
        images = ImageList(maps[0].new_empty((b, 0, s, s)), [(s, s)] * b)
        anchors = self.anchor_generator(images, features)
        per_level = [x.size(2) * x.size(3) for x in features]
        if targets is not None:
            return self.compute_loss(targets, head_outputs, anchors, per_level)
        split = {k: list(v.split(per_level, dim=1)) for k, v in head_outputs.items()}
        return self.postprocess_detections(split, [list(a.split(per_level)) for a in anchors], images.image_sizes)


PYCOCOTOOLS_MISSING = ("detection mAP needs pycocotools, the backend of torchmetrics' MeanAveragePrecision: "
                       "pip install 'cxrvlp[detection]'")


def require_pycocotools() -> None:
    """Fail before any head is trained when the optional ``detection`` extra is missing."""
    import importlib.util

    if importlib.util.find_spec("pycocotools") is None:
        raise ModuleNotFoundError(PYCOCOTOOLS_MISSING)


def mean_average_precision(preds: list[dict], truth: list[dict]) -> dict:
    """mAP over ``IOU_THRESHOLDS`` (``map``), at IoU 0.5 (``map_50``) and per class (``map_per_class``)."""
    from torchmetrics.detection import MeanAveragePrecision

    require_pycocotools()
    try:
        metric = MeanAveragePrecision(box_format="xyxy", iou_thresholds=list(IOU_THRESHOLDS), class_metrics=True)
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(PYCOCOTOOLS_MISSING) from e
    metric.update([{k: p[k].detach() for k in ("boxes", "scores", "labels")} for p in preds], truth)
    out = metric.compute()
    per_class = out["map_per_class"].reshape(-1).tolist()
    classes = out["classes"].reshape(-1).tolist()
    return {"map": float(out["map"]), "map_50": float(out["map_50"]),
            "map_per_class": {int(c): float(v) for c, v in zip(classes, per_class)}}

