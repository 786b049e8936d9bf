"""On-disk layout of a prepared data set and the reference that points a record at one of its images.

``cxrvlp data prepare`` writes::

    OUT/manifest.json            dataset, root, size, adapter version, label names, counts, one hash per shard
    OUT/skipped.tsv              every input that was not used: reason <TAB> where
    OUT/shards/00000/images.npy  uint8 [N, S, S]: every image of the shard's studies, long side resized to S and
                                 zero-padded to a square (exactly ``transforms.resize_pad``, rounded to uint8)
    OUT/shards/00000/masks.npy   uint8 [M, S, S]: masks in their image's geometry (nearest neighbour)
    OUT/shards/00000/index.json  the shard's studies (row numbers instead of file paths) and its skipped inputs

A shard folder only ever appears complete: it is written under a temporary name and renamed when done.
"""
from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cxrvlp.data.study import Box

FORMAT = "cxrvlp-prepared"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SKIPPED = "skipped.tsv"
SHARDS = "shards"
IMAGES, MASKS, INDEX = "images.npy", "masks.npy", "index.json"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class ShardRef:
    """A prepared image or mask: row ``row`` of the uint8 array file ``array``.

    It stands in :attr:`ImageRecord.path <cxrvlp.data.study.ImageRecord.path>` (and in ``masks``) for records read
    from prepared shards; ``source`` names the original file, for messages only.
    """

    array: Path
    row: int
    source: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.array}[{self.row}]"


@dataclass(frozen=True)
class Geometry:
    """Where an original ``height × width`` image lands in the prepared ``size²`` square (as ``resize_pad`` puts
    it): resized to ``new_height × new_width``, offset by ``top, left``."""

    height: int
    width: int
    size: int

    @property
    def new_height(self) -> int:
        return max(1, round(self.height * self.size / max(self.height, self.width)))

    @property
    def new_width(self) -> int:
        return max(1, round(self.width * self.size / max(self.height, self.width)))

    @property
    def top(self) -> int:
        return (self.size - self.new_height) // 2

    @property
    def left(self) -> int:
        return (self.size - self.new_width) // 2

    def map_box(self, box: Box) -> Box:
        """Box edges ``x' = x · new_width / width + left``, ``y' = y · new_height / height + top``."""
        sx, sy = self.new_width / self.width, self.new_height / self.height
        return Box(box.label, box.x0 * sx + self.left, box.y0 * sy + self.top, box.x1 * sx + self.left,
                   box.y1 * sy + self.top)

    def resize_pad_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A ``[1, h, w]`` mask → ``[1, size, size]`` in this geometry; nearest neighbour keeps it binary."""
        m = F.interpolate(mask[None], size=(self.new_height, self.new_width), mode="nearest-exact")[0]
        return F.pad(m, (self.left, self.size - self.new_width - self.left,
                         self.top, self.size - self.new_height - self.top))


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """``[1, S, S]`` float in [0, 1] → uint8 ``[S, S]`` (the same rounding as the dataset's in-memory cache)."""
    return (img[0] * 255.0).round().to(torch.uint8).numpy()


@functools.lru_cache(maxsize=256)  # bounded: each open memory map holds a file descriptor
def _open(array: Path) -> np.ndarray:
    try:
        arr = np.load(array, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise OSError(f"{array}: cannot open the prepared array ({e}); re-run `cxrvlp data prepare`") from e
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise ValueError(f"{array}: expected a uint8 [N, S, S] array, found {arr.dtype} {arr.shape}")
    return arr


def read_array(ref: ShardRef) -> np.ndarray:
    """The uint8 ``[S, S]`` image a reference points at (a view into the memory map: no decoding, no copy)."""
    arr = _open(Path(ref.array))
    if not 0 <= ref.row < len(arr):
        raise IndexError(f"{ref.array}: row {ref.row} does not exist ({len(arr)} rows); the prepared folder is "
                         "damaged, re-run `cxrvlp data prepare`")
    return arr[ref.row]


def read_image(ref: ShardRef, size: int) -> torch.Tensor:
    """A prepared image as float ``[1, size, size]`` in [0, 1], like ``resize_pad(load_gray(source), size)``.

    Prepared at another size, the stored padded square is resized (a square stays a padded square); prepare at
    the training ``data.resize`` to avoid that work.
    """
    from cxrvlp.data.transforms import resize_pad

    img = torch.from_numpy(np.array(read_array(ref)))[None].float() / 255.0
    if img.shape[-1] != size:
        warnings.warn(f"{ref.array.parent.parent.parent}: prepared at {img.shape[-1]} px but read at {size} px; "
                      "images are resized on every read (prepare with --size equal to data.resize)", stacklevel=2)
        img = resize_pad(img, size)
    return img


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; expected the {what} of a folder made by `cxrvlp data prepare`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}, line {e.lineno}: not valid JSON ({e.msg}); expected the {what}") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} {what} (no \"format\": \"{FORMAT}\")")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {data.get('format_version')} but this cxrvlp reads "
                         f"{FORMAT_VERSION}; re-run `cxrvlp data prepare`")
    return data


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(TMP_PREFIX + path.name)
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
