"""Worker side of ``cxrvlp data prepare``: decode and resize one study's images and masks (runs in a process pool)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cxrvlp.data import transforms
from cxrvlp.data.prepared.format import Geometry, to_uint8
from cxrvlp.data.study import Study


@dataclass
class ResizedImage:
    """One record's pixels at the prepared size; ``pixels`` is None (and ``error`` says why) if unreadable."""

    pixels: np.ndarray | None
    geometry: Geometry | None = None
    error: str = ""
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    mask_errors: dict[str, str] = field(default_factory=dict)


def _read(path) -> tuple:
    # Any decoder failure is a problem of that one file; it is listed in the summary instead of ending the run.
    try:
        return transforms.load_gray(path), ""
    except Exception as e:  # noqa: BLE001 - PIL/pydicom raise OSError, ValueError, DecompressionBombError, ...
        message = str(e) if str(path) in str(e) else f"{path}: {e}"
        return None, f"{message} ({type(e).__name__})"


def resize_record(record, size: int) -> ResizedImage:
    img, error = _read(record.path)
    if img is None:
        return ResizedImage(None, error=error)
    geo = Geometry(height=img.shape[-2], width=img.shape[-1], size=size)
    out = ResizedImage(to_uint8(transforms.resize_pad(img, size)), geo)
    for label, path in record.masks.items():
        mask, error = _read(path)
        if mask is None:
            out.mask_errors[label] = error
        else:
            out.masks[label] = to_uint8(geo.resize_pad_mask(mask))
    return out


def resize_study(task: tuple[Study, int]) -> list[ResizedImage]:
    """``(study, size)`` → one :class:`ResizedImage` per frontal then lateral record, in record order."""
    study, size = task
    return [resize_record(rec, size) for rec in (*study.frontal, *study.lateral)]


def init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # parallelism comes from the worker processes; threads per worker would oversubscribe
