"""Colour handling (PAPER.md, Eq. 15): F fuses luminance; chroma is fused per pixel.

RGB -> YCrCb is OpenCV's (Y = 0.299 R + 0.587 G + 0.114 B, Cr/Cb offset 128) on float32 0..255 data,
as in the authors' released inference. Chroma: Cf = (C1·|C1 − τ| + C2·|C2 − τ|) / (|C1 − τ| + |C2 − τ|),
τ = 128; where both weights are 0 (both grey there) Cf = τ. A grey source has C = τ everywhere, so its
weight is 0 and the colour source's chroma is used as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

TAU = 128.0


def split_ycrcb(img01: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """float32 [0, 1] (H, W) or (H, W, 3) RGB -> (Y in [0, 1] (H, W), CrCb on 0..255 (H, W, 2) or None)."""
    if img01.ndim == 2:
        return img01.astype(np.float32), None
    ycc = cv2.cvtColor((img01 * 255.0).astype(np.float32), cv2.COLOR_RGB2YCrCb)
    return ycc[..., 0] / 255.0, ycc[..., 1:]


def fuse_chroma(c1: np.ndarray | None, c2: np.ndarray | None, tau: float = TAU) -> np.ndarray | None:
    """Eq. 15 on (H, W, 2) Cr/Cb arrays on 0..255; None stands for a grey source."""
    if c1 is None and c2 is None:
        return None
    if c1 is None or c2 is None:
        return (c2 if c1 is None else c1).copy()
    w1, w2 = np.abs(c1 - tau), np.abs(c2 - tau)
    den = w1 + w2
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, (c1 * w1 + c2 * w2) / safe, tau).astype(np.float32)


def merge_ycrcb(y01: np.ndarray, crcb: np.ndarray | None) -> np.ndarray:
    """Y in [0, 1] (H, W) and Cr/Cb (H, W, 2) on 0..255 -> float32 RGB in [0, 1] (or grey if no chroma)."""
    if crcb is None:
        return np.clip(y01, 0.0, 1.0).astype(np.float32)
    ycc = np.dstack([y01.astype(np.float32) * 255.0, crcb.astype(np.float32)])
    return np.clip(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) / 255.0, 0.0, 1.0)
