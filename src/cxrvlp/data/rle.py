"""Run-length encoding of masks as the SIIM-ACR Pneumothorax challenge writes it (``train-rle.csv``).

Pixels are numbered column by column (column-major: index = col · H + row). A mask is a list of ``start length``
pairs. In the *relative* form of stage 1 (``train-rle.csv``, the challenge's ``mask_functions.py``) each start
counts the pixels since the end of the previous run (the first since pixel 0); in the *absolute* form of stage 2
(``stage_2_train.csv``) each start is the pixel index itself. An empty mask is written ``-1``.
"""
from __future__ import annotations

import numpy as np

EMPTY = "-1"


def rle_decode(rle: str, height: int, width: int, relative: bool = True) -> np.ndarray:
    """``bool [height, width]`` from an RLE string; ``-1`` or blank is the empty mask.

    Raises ``ValueError`` for an odd number of values, a negative value or a run past the last pixel.
    """
    mask = np.zeros(height * width, dtype=bool)
    text = rle.strip()
    if text in ("", EMPTY):
        return mask.reshape(width, height).T
    try:
        values = np.array([int(v) for v in text.split()], dtype=np.int64)
    except ValueError:
        raise ValueError(f"RLE holds a value that is not an integer: {text[:60]!r}") from None
    if values.size % 2 or (values < 0).any():
        raise ValueError(f"RLE must be non-negative 'start length' pairs, got {values.size} values")
    starts, lengths = values[0::2], values[1::2]
    if relative:
        ends_before = np.concatenate([[0], np.cumsum(starts + lengths)[:-1]])
        starts = ends_before + starts
    if (starts + lengths > mask.size).any():
        raise ValueError(f"RLE run ends past the last pixel of a {height}x{width} mask")
    for s, n in zip(starts, lengths):
        mask[s : s + n] = True
    return mask.reshape(width, height).T


def rle_encode(mask: np.ndarray, relative: bool = True) -> str:
    """The RLE string of ``mask [H, W]`` (inverse of :func:`rle_decode`); ``-1`` when the mask is empty."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    if edges.size == 0:
        return EMPTY
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    if relative:
        starts = starts - np.concatenate([[0], ends[:-1]])
    return " ".join(f"{s} {n}" for s, n in zip(starts, lengths))
