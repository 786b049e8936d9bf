"""Image preprocessing: grayscale load, resize the long side, pad to a square, crop, light augmentation, normalise."""
from __future__ import annotations

import warnings
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


def gray_array(im: Image.Image, where: str = "image") -> np.ndarray:
    """A PIL image of any mode as float ``[H, W]`` in [0, 1], at its full bit depth.

    - 8-bit grey (``L``, ``LA``), colour (``RGB``, ``RGBA``: luminance, alpha ignored), palette (``P``) and
      bilevel (``1``): value / 255 (bilevel: 0 or 1);
    - 16-bit and 32-bit integer (``I;16*``, ``I``) and float (``F``) images, as 16-bit PNG and TIFF radiographs
      are stored: scaled by their real range, (x - min) / (max - min), since the bits a detector uses (10, 12,
      14, 16) are not recorded in the file. (PIL's ``convert("L")`` saturates them: a 16-bit radiograph became
      all white.)

    A constant image gives zeros and a warning, never NaN."""
    if im.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr"):
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    arr = np.asarray(im, dtype=np.float64)
    if arr.ndim != 2:
        raise OSError(f"{where}: unsupported image mode {im.mode!r} with shape {arr.shape}")
    return scale_by_range(arr, where)


def scale_by_range(arr: np.ndarray, where: str = "image") -> np.ndarray:
    """``(x - min) / (max - min)`` as float32 ``[H, W]``: how images deeper than 8 bits are read (:func:`gray_array`).
    A constant image gives zeros and a warning; NaN or infinite values are an error."""
    arr = np.asarray(arr, dtype=np.float64)
    low, high = float(arr.min()), float(arr.max())
    if not np.isfinite([low, high]).all():
        raise OSError(f"{where}: the image holds NaN or infinite values")
    if high == low:
        warnings.warn(f"{where}: constant image (every pixel {low:g}); read as black", stacklevel=2)
        return np.zeros(arr.shape, dtype=np.float32)
    return ((arr - low) / (high - low)).astype(np.float32)


def load_gray(path: str | Path) -> torch.Tensor:
    """Read an image file as a float tensor ``[1, H, W]`` in [0, 1]; a clear error names a broken file.

    ``.dcm``/``.dicom`` files go through :func:`cxrvlp.data.dicom.read_dicom` (windowing, MONOCHROME1, 8-bit); the
    others through :func:`gray_array` (8-bit, colour, palette, bilevel, 16-bit, 32-bit and float images)."""
    if Path(path).suffix.lower() in (".dcm", ".dicom"):
        from cxrvlp.data.dicom import read_dicom

        return torch.from_numpy(read_dicom(path).astype(np.float32) / 255.0)[None]
    try:
        with Image.open(path) as im:
            im.load()
            arr = gray_array(im, str(path))
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
