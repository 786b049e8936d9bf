"""Binary masks on disk: read one (a 1-bit PNG or one value of a label map), write one, rasterise boxes."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from cxrvlp.data.study import Box


def read_mask(path: str | Path, value: int | None = None) -> np.ndarray:
    """``bool [H, W]``: pixels > 0 of a binary mask, or pixels equal to ``value`` of a label map (e.g. JSRT's
    0 background / 1 right lung / 2 left lung / 3 heart)."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L") if im.mode not in ("L", "1", "P") else im)
    return arr > 0 if value is None else arr == value


def write_mask(mask: np.ndarray, path: str | Path) -> Path:
    """Save a boolean mask as a 1-bit PNG (255 = inside) atomically, so parallel writers never leave half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(np.asarray(mask, dtype=bool)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def box_union_mask(boxes: Iterable[Box], height: int, width: int) -> np.ndarray:
    """``bool [H, W]``, true in the union of the boxes: pixel (r, c) is inside a box when its area overlaps it,
    i.e. ⌊x0⌋ ≤ c < ⌈x1⌉ and ⌊y0⌋ ≤ r < ⌈y1⌉ (clipped to the image)."""
    mask = np.zeros((height, width), dtype=bool)
    for b in boxes:
        x0, y0 = max(0, math.floor(b.x0)), max(0, math.floor(b.y0))
        x1, y1 = min(width, math.ceil(b.x1)), min(height, math.ceil(b.y1))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return mask
