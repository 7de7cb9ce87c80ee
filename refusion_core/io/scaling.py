"""Mapping input intensities to the network's range [0, 1]: plain scaling or a robust percentile stretch.

The networks were trained on 8-bit images scaled to [0, 1]. A 16-bit image divided by 65535 keeps its
look when it uses the whole 16-bit range (a 16-bit photograph), but raw radiometric thermal data does not:
a 14-bit sensor's counts, or temperatures in centi-kelvin (29315 = 20 °C), occupy a few thousand of the
65536 levels, so divided by 65535 the scene is a flat grey with almost no contrast. For such data the
**percentile stretch** maps the ``lo``-th percentile of the valid pixels to 0 and the ``hi``-th to 1 and
clips (defaults 0.5 and 99.5: a few hot or dead pixels cannot set the range).

Valid pixels: finite values; for uint16 data also not 0 or 65535, the usual no-data / saturation
sentinels (when every pixel is one of those, all pixels count).

``auto`` (the default of ``refusion fuse``) stretches exactly the images that look like raw sensor data:
single-channel uint16 whose used range (``hi``- minus ``lo``-th percentile) is at most
:data:`SMALL_RANGE` (a quarter) of 0..65535. 8-bit images and colour images are never stretched by
``auto``; 16-bit photographs (wide range) are not either. Each image is stretched on its own percentiles.
"""

from __future__ import annotations

import numpy as np

from refusion_core.errors import InputError
from refusion_core.io.images import from_float, to_float

STRETCH_MODES = ("auto", "none", "percentile")
DEFAULT_PERCENTILES = (0.5, 99.5)
SMALL_RANGE = 0.25
"""``auto`` stretches uint16 grey images whose used range is at most this fraction of 65535."""


def valid_pixels(img: np.ndarray) -> np.ndarray:
    """The values that count for percentiles: 1-D float64 array (see the module docstring)."""
    x = np.asarray(img)
    v = x[np.isfinite(x)] if x.dtype.kind == "f" else x.ravel()
    if x.dtype == np.uint16:
        inner = v[(v != 0) & (v != 65535)]
        v = inner if inner.size else v
    return v.astype(np.float64)


def percentile_range(img: np.ndarray, percentiles: tuple[float, float] = DEFAULT_PERCENTILES
                     ) -> tuple[float, float]:
    """(low, high) values at the given percentiles of the valid pixels, in the image's own units."""
    lo_p, hi_p = percentiles
    if not 0 <= lo_p < hi_p <= 100:
        raise InputError(f"Percentiles must satisfy 0 <= low < high <= 100, got {lo_p} and {hi_p}")
    v = valid_pixels(img)
    if v.size == 0:
        raise InputError("The image has no valid (finite) pixels to stretch")
    lo, hi = np.percentile(v, [lo_p, hi_p])
    return float(lo), float(hi)


def percentile_stretch(img: np.ndarray, percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> np.ndarray:
    """Map ``percentiles`` of the valid pixels to 0 and 1, clipped.

    Args:
        img: (H, W) or (H, W, 3), any real dtype, in its own units (counts, kelvin, ...). For colour the
            percentiles are taken over all channels together (one mapping, so hues are kept).
        percentiles: (low, high) in [0, 100].

    Returns:
        float32, same shape, in [0, 1]. A constant image gives all zeros.
    """
    lo, hi = percentile_range(img, percentiles)
    x = np.nan_to_num(np.asarray(img, np.float64), nan=lo, posinf=hi, neginf=lo)
    return np.clip((x - lo) / max(hi - lo, 1e-12), 0.0, 1.0).astype(np.float32)


def looks_raw(img: np.ndarray, percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> bool:
    """True for single-channel uint16 whose used range is at most :data:`SMALL_RANGE` of 0..65535."""
    if img.dtype != np.uint16 or img.ndim != 2:
        return False
    lo, hi = percentile_range(img, percentiles)
    return hi - lo <= SMALL_RANGE * 65535


def prepare_input(img: np.ndarray, mode: str = "auto",
                  percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> np.ndarray:
    """An image as the fuser should see it.

    Args:
        img: as returned by :func:`refusion_core.io.images.read_image` (uint8/uint16) or float.
        mode: ``none`` (returned unchanged: uint8 /255, uint16 /65535 later), ``percentile`` (always
            stretched) or ``auto`` (stretched when :func:`looks_raw`).
        percentiles: for the stretch.

    Returns:
        ``img`` itself when not stretched; otherwise the stretch quantised to **uint16** (steps of
        1/65535, far below what the network resolves) so that the fused result stays 16-bit.
    """
    if mode not in STRETCH_MODES:
        raise InputError(f"Unknown input stretch {mode!r}; use one of {', '.join(STRETCH_MODES)}")
    if mode == "none" or (mode == "auto" and not looks_raw(img, percentiles)):
        return img
    return from_float(percentile_stretch(img, percentiles), np.uint16)


def to_unit(img: np.ndarray, mode: str = "none",
            percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> np.ndarray:
    """Float32 in [0, 1] after :func:`prepare_input` (same shape)."""
    return to_float(prepare_input(img, mode, percentiles))
