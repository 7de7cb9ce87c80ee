"""The largest axis-aligned rectangle that every registered frame covers (for ``refusion align --crop``).

Method: intersect the frames' validity masks; find the largest all-valid rectangle on a coarse grid
(blocks of ``f × f`` pixels, a block valid only when all its pixels are, so the coarse answer is valid at
full resolution) with the classic maximal-rectangle-in-a-histogram scan, O(cells); then grow each side
pixel by pixel while the new row or column is still all valid. ``f`` keeps the coarse grid near
:data:`GRID` cells on its long side, so the scan stays fast for any image size; the result is exact up to
the greedy growth (within ``f`` px of the best rectangle on each side).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from refusion_core.registration.transforms import RegistrationError

GRID = 256


def common_area(masks: Sequence[np.ndarray], names: Sequence[str] = ()) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the largest rectangle inside every mask.

    Args:
        masks: (H, W) bool arrays of one size (True = covered), e.g. from
            :func:`refusion_core.registration.align.valid_mask`.
        names: only for the error message.

    Raises:
        RegistrationError: if the frames have no pixel in common.
    """
    inter = np.logical_and.reduce([np.asarray(m, bool) for m in masks])
    h, w = inter.shape
    f = max(1, math.ceil(max(h, w) / GRID))
    coarse = _block_all(inter, f)
    if not coarse.any():
        if not inter.any():
            who = f" ({', '.join(names)})" if names else ""
            raise RegistrationError(f"The registered images have no area in common{who}; nothing to crop to")
        coarse, f = inter, 1
    r0, c0, r1, c1 = _max_rectangle(coarse)
    y0, x0, y1, x1 = r0 * f, c0 * f, min(r1 * f, h), min(c1 * f, w)
    y0, x0, y1, x1 = _grow(inter, y0, x0, y1, x1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _block_all(mask: np.ndarray, f: int) -> np.ndarray:
    """(ceil(H/f), ceil(W/f)) bool: blocks whose pixels are all True (padding counts as False)."""
    h, w = mask.shape
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    pad = np.zeros((hp, wp), bool)
    pad[:h, :w] = mask
    return pad.reshape(hp // f, f, wp // f, f).all(axis=(1, 3))


def _max_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(r0, c0, r1, c1), half-open, of the largest all-True rectangle (histogram + stack per row)."""
    heights = np.zeros(mask.shape[1] + 1, int)
    best, box = 0, (0, 0, 0, 0)
    for r, row in enumerate(mask):
        heights[:-1] = np.where(row, heights[:-1] + 1, 0)
        stack: list[int] = []
        for c, hgt in enumerate(heights):
            while stack and heights[stack[-1]] >= hgt:
                top = stack.pop()
                area = heights[top] * (c - (stack[-1] + 1 if stack else 0))
                if area > best:
                    left = stack[-1] + 1 if stack else 0
                    best, box = area, (r + 1 - heights[top], left, r + 1, c)
            stack.append(c)
    return box


def _grow(inter: np.ndarray, y0: int, x0: int, y1: int, x1: int) -> tuple[int, int, int, int]:
    """Extend each side while the next row/column inside the current span is all valid."""
    h, w = inter.shape
    changed = True
    while changed:
        changed = False
        if y0 > 0 and inter[y0 - 1, x0:x1].all():
            y0, changed = y0 - 1, True
        if y1 < h and inter[y1, x0:x1].all():
            y1, changed = y1 + 1, True
        if x0 > 0 and inter[y0:y1, x0 - 1].all():
            x0, changed = x0 - 1, True
        if x1 < w and inter[y0:y1, x1].all():
            x1, changed = x1 + 1, True
    return y0, x0, y1, x1
