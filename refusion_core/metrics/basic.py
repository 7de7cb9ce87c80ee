"""Statistics of the fused image alone and simple pixel-wise comparisons.

EN, SD, SF, AG, EI need only the fused image ``f``; they keep the uniform ``(a, b, f)`` signature so
that every metric can be called the same way. PSNR, CE and SCD also use the sources.

All inputs are 2-D arrays on a 0..255 scale (see :func:`refusion_core.metrics.to_gray255`).
Reference: the MEFB benchmark's MATLAB code (xingchenzhang/MEFB, ``metrics/``) as run under GNU
Octave, reproduced to ~1e-12 relative (``shared/reference/metrics/values.json``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from refusion_core.metrics._common import check_triple

__all__ = ["en", "sd", "sf", "ag", "ei", "psnr", "ce", "scd", "histogram256", "entropy_bits"]


def histogram256(x: np.ndarray) -> np.ndarray:
    """Counts of the 256 integer levels: pixel ``v`` goes to bin ``floor(v)`` (clipped to 0..255)."""
    idx = np.clip(np.floor(x), 0, 255).astype(np.intp).ravel()
    return np.bincount(idx, minlength=256).astype(np.float64)


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy ``-sum p log2 p`` of a probability array (zero entries skipped)."""
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def en(a, b, f) -> float:
    """EN, Shannon entropy of the fused image (bits). Higher is better.

    ``EN = -sum_k p_k log2 p_k`` with a 256-bin histogram, one bin per grey level
    (pixel ``v`` counts in bin ``floor(v)``, clipped to 0..255), ``p_k = count_k / (M*N)``.
    Only ``f`` is used. Range 0..8. Matches MEFB ``metricsEntropy.m``.
    """
    _, _, f = check_triple(a, b, f)
    return entropy_bits(histogram256(f) / f.size)


def sd(a, b, f) -> float:
    """SD, population standard deviation of the fused image. Higher is better.

    ``SD = sqrt(sum((F - mean F)^2) / (M*N))`` (divides by M*N, not M*N-1). Only ``f`` is used.
    Matches MEFB ``metricsSD.m`` / VIFB ``metricsVariance.m`` (which, despite the name, is a std).
    """
    _, _, f = check_triple(a, b, f)
    return float(np.sqrt(np.mean((f - f.mean()) ** 2)))


def sf(a, b, f) -> float:
    """SF, spatial frequency of the fused image. Higher is better.

    ``RF^2 = sum_(i,j) (F(i,j) - F(i,j-1))^2 / (M*N)``, ``CF^2 = sum_(i,j) (F(i,j) - F(i-1,j))^2 / (M*N)``
    (both divided by the pixel count M*N, not by the number of differences),
    ``SF = sqrt(RF^2 + CF^2)``. Only ``f`` is used. Matches MEFB ``metricsSpatial_frequency.m``.
    """
    _, _, f = check_triple(a, b, f)
    rf = np.sum(np.diff(f, axis=1) ** 2) / f.size
    cf = np.sum(np.diff(f, axis=0) ** 2) / f.size
    return float(np.sqrt(rf + cf))


def ag(a, b, f) -> float:
    """AG, average gradient of the fused image. Higher is better.

    ``gx, gy`` as MATLAB ``gradient`` (central differences inside, one-sided differences on the
    border, spacing 1); ``AG = sum over all M*N pixels of sqrt((gx^2 + gy^2) / 2) / ((M-1)(N-1))``.
    Only ``f`` is used. Matches MEFB ``metricsAvg_gradient.m``.
    """
    _, _, f = check_triple(a, b, f)
    m, n = f.shape
    if m < 2 or n < 2:
        return 0.0
    gy, gx = np.gradient(f)
    return float(np.sum(np.sqrt((gx * gx + gy * gy) / 2.0)) / ((m - 1) * (n - 1)))


_SOBEL = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


def ei(a, b, f) -> float:
    """EI, edge intensity of the fused image. Higher is better.

    Mean over all pixels of ``sqrt(gx^2 + gy^2)``, ``gx``/``gy`` being the responses to the
    unnormalised 3x3 Sobel kernels (1-2-1) with replicate border padding. Only ``f`` is used.
    Matches MEFB ``metricsEdge_intensity.m``.
    """
    _, _, f = check_triple(a, b, f)
    gy = ndimage.correlate(f, _SOBEL, mode="nearest")
    gx = ndimage.correlate(f, _SOBEL.T, mode="nearest")
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))


def psnr(a, b, f) -> float:
    """PSNR exactly as MEFB's ``metricsPsnr.m`` computes it (NOT the textbook PSNR). Higher is better.

    Per source ``X`` the code's "mse" is ``||X - F||_2 / (M*N)`` (an L2 norm divided by the pixel
    count, not a mean square); ``E = (mse_A + mse_B) / 2``; ``PSNR = 20 log10(255 / sqrt(E))`` dB.
    Typical values are 50-65 dB where the textbook definition gives 8-25 dB. Identical images give
    ``inf``.
    """
    a, b, f = check_triple(a, b, f)
    e = 0.5 * (np.linalg.norm(a - f) + np.linalg.norm(b - f)) / f.size
    if e == 0:
        return float("inf")
    return float(20.0 * np.log10(255.0 / np.sqrt(e)))


def ce(a, b, f) -> float:
    """CE, the benchmark's "cross entropy" (a KL divergence) between sources and fused. Lower is better.

    ``CE = (D(A||F) + D(B||F)) / 2`` with ``D(X||F) = sum_k pX(k) log2(pX(k) / pF(k))`` over the
    256 grey-level bins (``floor(v)``), summing only bins where both ``pX`` and ``pF`` are non-zero.
    Matches MEFB ``metricsCross_entropy.m``.
    """
    a, b, f = check_triple(a, b, f)
    pf = histogram256(f) / f.size

    def kl(x):
        px = histogram256(x) / x.size
        ok = (px > 0) & (pf > 0)
        return float(np.sum(px[ok] * np.log2(px[ok] / pf[ok])))

    return 0.5 * (kl(a) + kl(b))


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    den = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / den) if den > 0 else 0.0


def scd(a, b, f) -> float:
    """SCD, sum of the correlations of differences (Aslantas & Bendes 2015). Higher is better.

    ``SCD = r(A, F - B) + r(B, F - A)``, ``r`` being the Pearson correlation over all pixels
    (float64, 0..255 values). A correlation whose denominator is zero counts as 0. Range -2..2.
    Matches ``SCD`` in the reference values (a numpy implementation of this formula).
    """
    a, b, f = check_triple(a, b, f)
    return _corr(a, f - b) + _corr(b, f - a)
