"""Image preprocessing: grayscale load, resize the long side, pad to a square, crop, light augmentation, normalise."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError


@dataclass(frozen=True)
class Preprocess:
    """Preprocessing settings; recorded in every result file so a number can be reproduced."""

    resize: int = 256  # long side after resizing
    crop: int = 224  # square crop fed to the encoder (random in training, centre otherwise)
    mean: float = 0.5
    std: float = 0.5
    augment: bool = True  # random crop, small shift/scale, brightness/contrast jitter (training only)

    def as_dict(self) -> dict:
        return asdict(self)


def load_gray(path: str | Path) -> torch.Tensor:
    """Read an image file as a float tensor ``[1, H, W]`` in [0, 1]; a clear error names a broken file.

    ``.dcm``/``.dicom`` files go through :func:`cxrvlp.data.dicom.read_dicom` (windowing, MONOCHROME1, 8-bit)."""
    if Path(path).suffix.lower() in (".dcm", ".dicom"):
        from cxrvlp.data.dicom import read_dicom

        return torch.from_numpy(read_dicom(path).astype(np.float32) / 255.0)[None]
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as e:
        raise OSError(f"{path}: cannot read image ({e})") from e
    return torch.from_numpy(arr)[None]


def resize_pad(img: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the long side is ``size`` (keeping aspect), then zero-pad (black, like air) to ``size``²."""
    _, h, w = img.shape
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (size - nh) // 2, (size - nw) // 2
    return F.pad(img, (left, size - nw - left, top, size - nh - top))


def apply(img: torch.Tensor, cfg: Preprocess, train: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[1, H, W]`` in [0, 1] → normalised ``[1, crop, crop]``."""
    return crop_normalise(resize_pad(img, cfg.resize), cfg, train, generator)


def crop_normalise(img: torch.Tensor, cfg: Preprocess, train: bool,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """An already resized-and-padded ``[1, resize, resize]`` image → normalised ``[1, crop, crop]``."""
    off = cfg.resize - cfg.crop
    if train and cfg.augment:
        y, x = (int(v) for v in torch.randint(0, off + 1, (2,), generator=generator))
        img = img[:, y : y + cfg.crop, x : x + cfg.crop]
        gain, bias = (torch.rand(2, generator=generator) - 0.5) * torch.tensor([0.4, 0.2])
        img = ((img - 0.5) * (1.0 + gain) + 0.5 + bias).clamp(0.0, 1.0)
    else:
        y = x = off // 2
        img = img[:, y : y + cfg.crop, x : x + cfg.crop]
    return (img - cfg.mean) / cfg.std
