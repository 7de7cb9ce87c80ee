"""SSIM-family fusion metrics: SSIM (skimage convention), VIFB's summed SSIM and MEFB's Qw.

Local statistics use Gaussian windows. Inputs are 2-D arrays on a 0..255 scale.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from refusion_core.metrics._common import check_triple, gaussian_1d, sep_filter_valid

__all__ = ["ssim", "ssim_map", "qw", "ssim_vifb_sum"]

_K1, _K2 = 0.01, 0.03


def _skimage_stats(x: np.ndarray, y: np.ndarray):
    """Gaussian-weighted means/variances/covariance exactly as skimage computes them."""

    def filt(z):
        return ndimage.gaussian_filter(z, sigma=1.5, truncate=3.5, mode="reflect")

    ux, uy = filt(x), filt(y)
    vx = filt(x * x) - ux * ux
    vy = filt(y * y) - uy * uy
    vxy = filt(x * y) - ux * uy
    return ux, uy, vx, vy, vxy


def ssim_map(x, y, data_range: float = 255.0) -> np.ndarray:
    """Full-size SSIM map with skimage's conventions (see :func:`ssim`), borders not cropped."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    ux, uy, vx, vy, vxy = _skimage_stats(x, y)
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def _ssim_skimage(x: np.ndarray, y: np.ndarray) -> float:
    pad = 5  # (11 - 1) // 2: skimage ignores the filter radius along the borders
    s = ssim_map(x, y)
    return float(s[pad:-pad, pad:-pad].mean()) if min(s.shape) > 2 * pad else float(s.mean())


def ssim(a, b, f) -> float:
    """SSIM, mean structural similarity of the fused image to the two sources. Higher is better.

    ``SSIM = (SSIM(F, A) + SSIM(F, B)) / 2`` with Wang et al.'s SSIM exactly as scikit-image's
    ``structural_similarity(F, X, data_range=255, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` computes it: Gaussian-weighted local statistics (sigma 1.5,
    truncated at 3.5 sigma = 11x11 window, 'reflect' borders), population covariances,
    ``C1 = (0.01*255)^2``, ``C2 = (0.03*255)^2``, the map averaged after cropping a 5-pixel border.
    Range -1..1 (1 when F equals both sources). Matches ``SSIM_skimage_mean`` in the reference values
    (and VIFB ``metricsSsim.m`` / 2 to ~1e-6). Images under 11 pixels on a side, which skimage
    refuses, are averaged over the whole map.
    """
    a, b, f = check_triple(a, b, f)
    return 0.5 * (_ssim_skimage(f, a) + _ssim_skimage(f, b))


# ---------------------------------------------------------------------------------------------
# MEFB / VIFB SSIM variants: 'valid' filtering with a normalised Gaussian window.


def _local_stats_valid(x, y, g):
    mx, my = sep_filter_valid(x, g), sep_filter_valid(y, g)
    vx = sep_filter_valid(x * x, g) - mx * mx
    vy = sep_filter_valid(y * y, g) - my * my
    cxy = sep_filter_valid(x * y, g) - mx * my
    return mx, my, vx, vy, cxy


def _wang_ssim_valid(x, y, g, c1, c2):
    """(SSIM map, var x, var y, cov) with 'valid' Gaussian windows."""
    mx, my, vx, vy, cxy = _local_stats_valid(x, y, g)
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s, vx, vy, cxy


def ssim_vifb_sum(a, b, f) -> float:
    """VIFB's SSIM: the SUM ``SSIM(A,F) + SSIM(B,F)`` (range up to 2). Higher is better.

    Wang SSIM with a normalised 11x11 Gaussian window (sigma 1.5), K = (0.01, 0.03), L = 255,
    'valid' region, mean of the map. Matches VIFB ``metricsSsim.m`` (``SSIM_VIFB_sum``).
    """
    a, b, f = check_triple(a, b, f)
    g = gaussian_1d(11, 1.5)
    c1, c2 = (_K1 * 255) ** 2, (_K2 * 255) ** 2
    return float(_wang_ssim_valid(a, f, g, c1, c2)[0].mean() + _wang_ssim_valid(b, f, g, c1, c2)[0].mean())


_PREWITT_X = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])


def _edge_magnitude(x):
    gx = ndimage.correlate(x, _PREWITT_X, mode="constant", cval=0.0)
    gy = ndimage.correlate(x, _PREWITT_X.T, mode="constant", cval=0.0)
    return np.sqrt(gx * gx + gy * gy)


def qw(a, b, f) -> float:
    """Qw as MEFB ``metricsQw.m`` computes it (Piella-Heijmans, edge-image term only). Higher is better.

    Prewitt 3x3 edge magnitudes of A, B, F (same-size filtering, zero padding), then the weighted
    fusion quality index on those edge images: Wang SSIM (11x11 Gaussian, sigma 1.5, K = (0.01, 0.03),
    L = 255, 'valid'); ``lam = sA^2 / (sA^2 + sB^2)`` (both variances get +0.5 where their sum is 0),
    ``c = max(sA^2, sB^2) / sum(max(sA^2, sB^2))``, ``Qw = sum c (lam SSIM(Fe,Ae) + (1-lam) SSIM(Fe,Be))``.
    """
    a, b, f = check_triple(a, b, f)
    ea, eb, ef = _edge_magnitude(a), _edge_magnitude(b), _edge_magnitude(f)
    g = gaussian_1d(11, 1.5)
    c1, c2 = (_K1 * 255) ** 2, (_K2 * 255) ** 2
    saf, va, _, _ = _wang_ssim_valid(ea, ef, g, c1, c2)
    sbf, vb, _, _ = _wang_ssim_valid(eb, ef, g, c1, c2)
    # MEFB adds 0.5 to both variances where their sum is exactly zero.
    flat = (va + vb) == 0
    va, vb = va + 0.5 * flat, vb + 0.5 * flat
    lam = va / (va + vb)
    cmax = np.maximum(va, vb)
    s = cmax.sum()
    if s == 0:
        return 0.0
    return float(np.sum(cmax / s * (lam * saf + (1 - lam) * sbf)))
