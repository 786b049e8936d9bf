"""Segmentation on a frozen (or fine-tuned) encoder: a U-Net decoder over the encoder's feature pyramid, laid out
like segmentation-models-pytorch's ``UnetDecoder``: start from the coarsest map, and per finer level upsample ×2
(nearest), concatenate the skip map, and apply two 3×3 conv-BN-ReLU. The logits come out at the finest level
(stride 4) and are upsampled bilinearly to the input. Classes are independent (sigmoid), trained with BCE + soft
Dice, as smp's multilabel mode.

Metrics per image and class, MGCA's convention (the SIIM Kaggle metric): with ``P`` the thresholded prediction and
``T`` the truth, ``Dice = 2|P∩T| / (|P| + |T|)`` and ``IoU = |P∩T| / |P∪T|`` when ``T`` is not empty; when ``T`` is
empty both are 1 if ``P`` is empty too, else 0. Averaged over images, then over classes (macro).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cxrvlp.evaluation.features import target_strides


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, skip: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(cin + skip, cout), _conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.conv(torch.cat([x, skip], dim=1))


def resample_pyramid(maps: list[torch.Tensor], strides: list[int], image_size: int) -> list[torch.Tensor]:
    """Maps at :func:`~cxrvlp.evaluation.features.target_strides` (a ViT's one-stride maps become a pyramid:
    bilinear upsampling for finer levels, area pooling for coarser)."""
    targets = target_strides(strides)
    out = []
    for m, s, t in zip(maps, strides, targets):
        if s != t:
            size = (max(1, image_size // t),) * 2
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False) if t < s else \
                F.adaptive_avg_pool2d(m, size)
        out.append(m)
    return out


class UNetDecoder(nn.Module):
    """``maps`` (finest first, channels ``in_channels``, strides ``strides``) → logits ``[B, K, S, S]``."""

    def __init__(self, in_channels: list[int], strides: list[int], num_classes: int, image_size: int,
                 decoder_channels: tuple[int, ...] = (64, 32, 16)):
        super().__init__()
        if len(decoder_channels) != len(in_channels) - 1:
            raise ValueError(f"{len(in_channels)} pyramid levels need {len(in_channels) - 1} decoder channel counts, "
                             f"got {decoder_channels}")
        self.strides, self.image_size = list(strides), image_size
        skips = list(reversed(in_channels[:-1]))
        cins = [in_channels[-1], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList(DecoderBlock(ci, sk, co) for ci, sk, co in zip(cins, skips, decoder_channels))
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, 3, padding=1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        maps = resample_pyramid(maps, self.strides, self.image_size)
        x = maps[-1]
        for block, skip in zip(self.blocks, reversed(maps[:-1])):
            x = block(x, skip)
        return F.interpolate(self.head(x), size=(self.image_size,) * 2, mode="bilinear", align_corners=False)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """BCE + soft Dice ``1 - (2Σpt + ε) / (Σp + Σt + ε)`` per image and class, averaged."""
    target = target.float()
    p = logits.sigmoid()
    inter = (p * target).sum((-2, -1))
    dice = (2 * inter + eps) / (p.sum((-2, -1)) + target.sum((-2, -1)) + eps)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - dice).mean()


def dice_iou(pred: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean ``[N, K, H, W]`` → Dice and IoU ``[N, K]`` with the empty-truth convention of the module docstring."""
    p, t = pred.flatten(2).float(), truth.flatten(2).float()
    inter, ps, ts = (p * t).sum(-1), p.sum(-1), t.sum(-1)
    empty = ts == 0
    dice = torch.where(empty, (ps == 0).float(), 2 * inter / (ps + ts).clamp_min(1))
    iou = torch.where(empty, (ps == 0).float(), inter / (ps + ts - inter).clamp_min(1))
    return dice, iou
