"""Colour handling (PAPER.md, Eq. 15): F fuses luminance; chroma is fused per pixel.

RGB -> YCrCb is OpenCV's (Y = 0.299 R + 0.587 G + 0.114 B, Cr/Cb offset 128) on float32 0..255 data,
as in the authors' released inference. Chroma: Cf = (C1·|C1 − τ| + C2·|C2 − τ|) / (|C1 − τ| + |C2 − τ|),
τ = 128; where both weights are 0 (both grey there) Cf = τ. A grey source has C = τ everywhere, so its
weight is 0 and the colour source's chroma is used as it is.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from refusion_core.io.images import from_float, to_float

TAU = 128.0
COLOUR_ROWS = 512  # rows per strip of the conversions (they are per pixel): no full-size float RGB copy


def split_ycrcb(img01: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """float32 [0, 1] (H, W) or (H, W, 3) RGB -> (Y in [0, 1] (H, W), CrCb on 0..255 (H, W, 2) or None)."""
    if img01.ndim == 2:
        return img01.astype(np.float32), None
    ycc = cv2.cvtColor((img01 * 255.0).astype(np.float32), cv2.COLOR_RGB2YCrCb)
    return ycc[..., 0] / 255.0, ycc[..., 1:]


def fuse_chroma(*chromas: np.ndarray | None, tau: float = TAU) -> np.ndarray | None:
    """Eq. 15 over any number of sources: (H, W, 2) Cr/Cb arrays on 0..255, None for a grey source.

    ``Cf = Σ Ci |Ci − τ| / Σ |Ci − τ|`` (Cf = τ where every weight is 0), float32. With two sources this is
    the paper's Eq. 15; stacks use the same formula over all N sources at once (see
    :mod:`refusion_core.fusing.stack`). Returns None when every source is grey, a copy of the one colour
    source when there is only one.
    """
    cs = [c for c in chromas if c is not None]
    if not cs:
        return None
    if len(cs) == 1:
        return cs[0].copy()
    num = den = None
    for c in cs:
        w = np.abs(c - tau)
        num, den = (c * w, w) if num is None else (num + c * w, den + w)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, tau).astype(np.float32)


def merge_ycrcb(y01: np.ndarray, crcb: np.ndarray | None) -> np.ndarray:
    """Y in [0, 1] (H, W) and Cr/Cb (H, W, 2) on 0..255 -> float32 RGB in [0, 1] (or grey if no chroma)."""
    if crcb is None:
        return np.clip(y01, 0.0, 1.0).astype(np.float32)
    ycc = np.dstack([y01.astype(np.float32) * 255.0, crcb.astype(np.float32)])
    return np.clip(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) / 255.0, 0.0, 1.0)


def strips(height: int):
    """(first row, end row) of each strip of :data:`COLOUR_ROWS` rows."""
    return ((r, min(r + COLOUR_ROWS, height)) for r in range(0, height, COLOUR_ROWS))


def luminance(img: np.ndarray) -> np.ndarray:
    """Y in [0, 1], float32 (H, W), of a grey or RGB image (uint8/uint16/float [0, 1]): what F fuses.

    Converted strip by strip, so a large photograph never exists as a full-size float RGB copy."""
    y = np.empty(img.shape[:2], np.float32)
    for r0, r1 in strips(img.shape[0]):
        y[r0:r1] = split_ycrcb(to_float(img[r0:r1]))[0]
    return y


def output_dtype(sources: Sequence[np.ndarray]) -> type:
    """The bit depth of a fusion's output: uint16 if any source is 16-bit, else uint8."""
    return np.uint16 if any(s.dtype == np.uint16 for s in sources) else np.uint8


def recolour(sources: Sequence[np.ndarray], fused_y: np.ndarray) -> np.ndarray:
    """The last step of every fusion: fused Y + Eq. 15 chroma of the sources -> the image to save.

    Args:
        sources: the N >= 1 registered sources as read, (H, W) grey or (H, W, 3) RGB, uint8/uint16/float.
        fused_y: float32 (H, W), the fused luminance in [0, 1] (clipped here).

    Returns:
        (H, W) if every source is grey, else (H, W, 3) RGB; uint16 if any source is, else uint8
        (:func:`output_dtype`). Models, classical baselines, stacks, evaluation and the app all end here.
    """
    dtype = output_dtype(sources)
    colour = any(s.ndim == 3 for s in sources)
    out = np.empty(fused_y.shape + ((3,) if colour else ()), dtype)
    for r0, r1 in strips(fused_y.shape[0]):
        chroma = fuse_chroma(*(split_ycrcb(to_float(s[r0:r1]))[1] for s in sources))
        out[r0:r1] = from_float(merge_ycrcb(fused_y[r0:r1], chroma), dtype)
    return out
