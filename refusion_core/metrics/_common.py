"""Shared helpers for the fusion metrics: input checks, MATLAB-compatible rounding and filtering.

Every metric works on 2-D float64 arrays on a 0..255 scale. The helpers here reproduce the few
MATLAB/Octave behaviours the reference benchmark code (MEFB / VIFB) depends on:

* ``matlab_round``: round half away from zero (``numpy.round`` rounds half to even).
* ``normalize1``: MEFB's min-max stretch to 0..255 followed by ``matlab_round``.
* ``filter2_same`` / ``filter2_valid``: MATLAB ``filter2`` (2-D correlation, zero padding for
  'same'), done separably where the kernel is separable.
* ``gaussian_1d``: the 1-D factor of ``fspecial('gaussian', n, sigma)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from refusion_core.errors import InputError

__all__ = [
    "as_image",
    "check_triple",
    "to_gray255",
    "matlab_round",
    "normalize1",
    "gaussian_1d",
    "filter2_same",
    "filter2_valid",
    "sep_filter_valid",
    "sep_filter_same",
]


def as_image(x) -> np.ndarray:
    """Return ``x`` as a 2-D float64 array (no rescaling)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"Metrics need 2-D grayscale images; got an array of shape {arr.shape}.")
    return arr


def check_triple(a, b, f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert sources ``a``, ``b`` and fused ``f`` to float64 and check they share one 2-D shape."""
    a, b, f = as_image(a), as_image(b), as_image(f)
    if not (a.shape == b.shape == f.shape):
        raise InputError(
            f"The two sources and the fused image must have the same size; got {a.shape}, {b.shape} and {f.shape}."
        )
    return a, b, f


def to_gray255(img) -> np.ndarray:
    """Convert an image to the float64 0..255 grayscale array every metric expects.

    All metrics in :mod:`refusion_core.metrics` are computed on the luminance (Y) channel on a
    0..255 scale, so colour images are reduced with ``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R
    BT.601, the weights of MATLAB's ``rgb2gray``, without its rounding).

    Accepted inputs:

    * shape ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (RGB order) or ``(H, W, 4)`` (alpha dropped);
    * ``uint8``: used as is; ``uint16``: divided by 257 (65535 -> 255); other integer types:
      used as is (assumed to be 0..255 already);
    * floating point: values in [0, 1] are multiplied by 255; anything with a maximum above 1 is
      assumed to be on the 0..255 scale already; ``bool`` maps to 0/255.
    """
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise InputError(f"Expected an (H, W) grayscale or (H, W, 3) RGB image; got shape {arr.shape}.")
    if arr.dtype == np.bool_:
        out = arr.astype(np.float64) * 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float64) / 257.0
    elif np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float64)
        finite = out[np.isfinite(out)]
        if finite.size and finite.max() <= 1.0:
            out = out * 255.0
    else:
        raise InputError(f"Unsupported image data type {arr.dtype}.")
    if out.ndim == 3:
        out = 0.299 * out[:, :, 0] + 0.587 * out[:, :, 1] + 0.114 * out[:, :, 2]
    return np.ascontiguousarray(out)


def matlab_round(x) -> np.ndarray:
    """Round half away from zero, like MATLAB/Octave ``round`` (exact: no ``floor(x + 0.5)`` error)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.trunc(x)
    frac = x - t  # exact in binary floating point
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0)


def normalize1(x) -> np.ndarray:
    """MEFB ``normalize1``: ``round(((x - min) / (max - min)) * 255)`` with half-away-from-zero rounding.

    The evaluation order matters for exact .5 cases and is kept as in MEFB: subtract, divide by the
    range, multiply by 255, round. An all-zero image is returned unchanged (as MEFB does); any other
    constant image (where MEFB would produce NaNs) is returned as zeros.
    """
    x = np.asarray(x, dtype=np.float64)
    hi, lo = x.max(), x.min()
    if hi == 0 and lo == 0:
        return x.copy()
    if hi == lo:
        return np.zeros_like(x)
    return matlab_round(((x - lo) / (hi - lo)) * 255.0)


def gaussian_1d(n: int, sigma: float, normalise: bool = True) -> np.ndarray:
    """1-D Gaussian of length ``n`` centred on the middle sample.

    With ``normalise`` the outer product equals ``fspecial('gaussian', n, sigma)`` up to rounding.
    """
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum() if normalise else g


def sep_filter_same(x: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """``filter2(gy[:, None] * gx[None, :], x, 'same')`` for odd-length kernels (zero padding)."""
    out = ndimage.correlate1d(x, gy, axis=0, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, gx, axis=1, mode="constant", cval=0.0)


def sep_filter_valid(x: np.ndarray, gy: np.ndarray, gx: np.ndarray | None = None) -> np.ndarray:
    """``filter2(gy[:, None] * gx[None, :], x, 'valid')`` (``gx`` defaults to ``gy``)."""
    if gx is None:
        gx = gy
    ry, rx = len(gy) // 2, len(gx) // 2
    out = sep_filter_same(x, gy, gx)
    return out[ry : x.shape[0] - (len(gy) - 1 - ry), rx : x.shape[1] - (len(gx) - 1 - rx)]


def filter2_same(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(h, x, 'same')`` for an odd-sized kernel: 2-D correlation, zero padding."""
    return ndimage.correlate(x, np.asarray(h, dtype=np.float64), mode="constant", cval=0.0)


def filter2_valid(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(h, x, 'valid')`` for an odd-sized kernel."""
    h = np.asarray(h, dtype=np.float64)
    ry, rx = h.shape[0] // 2, h.shape[1] // 2
    out = filter2_same(h, x)
    return out[ry : x.shape[0] - ry, rx : x.shape[1] - rx]
