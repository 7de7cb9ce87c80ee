"""Small helpers for drawing numpy images with pyqtgraph / Qt (GUI thread)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import qimage2ndarray
from PySide6.QtGui import QImage, QPixmap

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

MAP_COLORMAP = "viridis"


def levels(img: np.ndarray) -> tuple[float, float]:
    if img.dtype == np.uint8:
        return 0.0, 255.0
    if img.dtype == np.uint16:
        return 0.0, 65535.0
    return 0.0, 1.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    lo, hi = levels(img)
    return np.round(np.clip((img.astype(np.float32) - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def qimage(img: np.ndarray) -> QImage:
    """numpy grey / RGB (any depth) -> QImage (8-bit), via qimage2ndarray."""
    u8 = to_uint8(img)
    return qimage2ndarray.gray2qimage(u8) if u8.ndim == 2 else qimage2ndarray.array2qimage(u8)


def _small_rgb(img: np.ndarray, size: int) -> np.ndarray:
    step = max(1, max(img.shape[:2]) // size)
    u8 = to_uint8(img[::step, ::step])
    return np.repeat(u8[..., None], 3, axis=2) if u8.ndim == 2 else u8


def pair_thumbnail(a: np.ndarray, b: np.ndarray, size: int = 32) -> QPixmap:
    """A and B side by side, ``size`` px high (qimage2ndarray does the numpy -> QImage step)."""
    sa, sb = _small_rgb(a, size), _small_rgb(b, size)
    h = min(sa.shape[0], sb.shape[0])
    gap = np.full((h, 2, 3), 255, np.uint8)
    both = np.ascontiguousarray(np.hstack([sa[:h], gap, sb[:h]]))
    return QPixmap.fromImage(qimage2ndarray.array2qimage(both))


def colormap() -> pg.ColorMap:
    return pg.colormap.get(MAP_COLORMAP)
