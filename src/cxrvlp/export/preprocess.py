"""The preprocessing a model was trained with, as one callable: any image a user has → the tensor its encoder expects.

``ImagePreprocess(config)(x)`` takes a file path (PNG / JPEG / TIFF / DICOM), a PIL image or an array (numpy or
torch; 8-bit, 16-bit, 32-bit, float, bool; ``[H, W]``, ``[H, W, 3|4]`` colour or ``[1, H, W]``) and returns
``[C, crop, crop]``, exactly as evaluation reads an image (:mod:`cxrvlp.data.transforms` with ``augment=False``):

1. grey values in [0, 1] at the image's full bit depth: 8-bit grey / colour (luminance) / palette / bilevel files
   and ``uint8`` arrays are value / 255; deeper integer and float images are scaled by their own range,
   (x - min) / (max - min); DICOM goes through its modality and VOI LUT (window) to 8 bits, MONOCHROME1 inverted
   (:mod:`cxrvlp.data.dicom`);
2. the long side resized to ``resize`` (bilinear, antialiased), zero-padded (black) to a ``resize``² square;
3. the centre ``crop``² crop;
4. ``(x - mean) / std`` per channel; a grey image is repeated over ``in_chans`` channels when the encoder takes more
   than one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cxrvlp.data.transforms import Preprocess, crop_normalise, gray_array, load_gray, resize_pad, scale_by_range

BIT_DEPTH_RULE = ("8-bit grey, colour (luminance), palette and bilevel images: value / 255; 16-bit, 32-bit and float "
                  "images: (x - min) / (max - min) of the image itself; DICOM: modality LUT, VOI LUT / window "
                  "(or min-max) to 8 bits, MONOCHROME1 inverted, then / 255")
STEPS = ("grey in [0, 1] at full bit depth (bit_depth)", "resize the long side to `resize` (bilinear, antialiased)",
         "zero-pad to a `resize` x `resize` square (centred)", "centre crop `crop` x `crop`",
         "repeat the grey channel to `in_chans`", "(x - mean) / std per channel")
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class PreprocessConfig:
    """What an exported model's ``config.json`` records under ``preprocess`` (and what training used)."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_chans: int = 1

    def __post_init__(self):
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} is larger than resize {self.resize}")
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ValueError(f"mean {self.mean} / std {self.std}: one value per channel (in_chans={self.in_chans})")

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessConfig:
        return cls(resize=int(d["resize"]), crop=int(d["crop"]), mean=tuple(float(m) for m in d["mean"]),
                   std=tuple(float(s) for s in d["std"]), in_chans=int(d.get("in_chans", 1)))

    @classmethod
    def of(cls, image_encoder, data) -> PreprocessConfig:
        """The preprocessing of a recipe: its ``data.resize`` / ``data.crop`` and the encoder's mean / std."""
        dc = image_encoder.data_config
        return cls(resize=int(data.resize), crop=int(data.crop), mean=tuple(float(m) for m in dc["mean"]),
                   std=tuple(float(s) for s in dc["std"]), in_chans=int(image_encoder.in_chans))

    def to_dict(self) -> dict:
        """The fields plus a description of every step (``channels``, ``bit_depth``, ``steps``) for readers."""
        d = asdict(self)
        d.update(mean=list(self.mean), std=list(self.std),
                 channels=f"grey, repeated to {self.in_chans} channel(s)" if self.in_chans > 1 else "grey, 1 channel",
                 bit_depth=BIT_DEPTH_RULE, steps=list(STEPS), input_size=[self.in_chans, self.crop, self.crop])
        return d

    def data_config(self) -> dict:
        """timm-style ``data_config`` of what the encoder was trained on."""
        return {"mean": self.mean, "std": self.std, "input_size": (self.in_chans, self.crop, self.crop),
                "resize": self.resize, "crop": self.crop, "crop_pct": self.crop / self.resize,
                "interpolation": "bilinear", "crop_mode": "center", "pad": "long side, zeros"}


def set_training_data_config(image_encoder, config: PreprocessConfig) -> None:
    """Make ``image_encoder.data_config`` report the input it was trained on (the recipe's crop, not the timm
    architecture's default size); a CNN's default ``grid`` follows (a ViT / Swin is built for one size already)."""
    image_encoder.data_config = config.data_config()
    if getattr(image_encoder, "family", "") == "cnn":
        image_encoder.img_size = (config.crop, config.crop)


def to_gray(x, where: str = "image") -> torch.Tensor:
    """A path, PIL image or array → float ``[1, H, W]`` in [0, 1] (the bit-depth rule of the module docstring)."""
    from PIL import Image

    if isinstance(x, (str, Path)):
        return load_gray(x)
    if isinstance(x, Image.Image):
        return torch.from_numpy(gray_array(x, where))[None]
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: expected a file path, a PIL image or an array, got {type(x).__name__}")
    return torch.from_numpy(array_gray(x, where))[None]


def array_gray(arr: np.ndarray, where: str = "image") -> np.ndarray:
    """An array as float32 ``[H, W]`` in [0, 1]: ``uint8`` / 255, ``bool`` as 0 / 1, deeper integers and floats by
    their range; ``[H, W, 3|4]`` colour by luminance (alpha ignored; ``uint8`` exactly as PIL converts an RGB file),
    ``[1, H, W]`` / ``[H, W, 1]`` squeezed."""
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:-1])
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        rgb = arr[..., :3]
        if rgb.dtype == np.uint8:
            from PIL import Image

            return gray_array(Image.fromarray(np.ascontiguousarray(rgb), "RGB"), where)
        arr = np.asarray(rgb, dtype=np.float64) @ _LUMA
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected an [H, W], [H, W, 3|4] or [1, H, W] array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{where}: unsupported array type {arr.dtype}")
    return scale_by_range(arr, where)


class ImagePreprocess:
    """``preprocess(x) -> [C, crop, crop]`` float tensor (see the module docstring); ``preprocess.config`` holds the
    numbers. Stack several with ``torch.stack([preprocess(x) for x in images])``."""

    def __init__(self, config: PreprocessConfig | dict):
        self.config = config if isinstance(config, PreprocessConfig) else PreprocessConfig.from_dict(config)
        c = self.config
        self._one = Preprocess(resize=c.resize, crop=c.crop, mean=c.mean[0], std=c.std[0], augment=False)

    def __call__(self, x) -> torch.Tensor:
        c = self.config
        img = resize_pad(to_gray(x), c.resize)
        if c.in_chans == 1:
            return crop_normalise(img, self._one, train=False)
        plain = Preprocess(resize=c.resize, crop=c.crop, mean=0.0, std=1.0, augment=False)
        img = crop_normalise(img, plain, train=False).expand(c.in_chans, -1, -1)
        mean = torch.tensor(c.mean, dtype=img.dtype).view(-1, 1, 1)
        std = torch.tensor(c.std, dtype=img.dtype).view(-1, 1, 1)
        return (img - mean) / std

    def __repr__(self) -> str:
        c = self.config
        return (f"ImagePreprocess(resize={c.resize}, crop={c.crop}, mean={list(c.mean)}, std={list(c.std)}, "
                f"in_chans={c.in_chans})")
