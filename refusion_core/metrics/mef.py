"""MEF-SSIM: Ma, Zeng & Wang's quality index for multi-exposure fusion (multi-scale).

Reference: K. Ma, K. Zeng, Z. Wang, "Perceptual Quality Assessment for Multi-Exposure Image
Fusion", IEEE TIP 24(11), 2015; reproduced as the authors' ``mef_ms_ssim.m`` / ``mef_ssim.m``
(shipped in MEFB) compute it, with the two sources as the exposure stack. The reference code loops
over pixels; here every patch quantity is rewritten with local (box and Gaussian) moments, which is
exact in real arithmetic: see :func:`mef_ssim_single_scale`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from refusion_core.metrics._common import check_triple, gaussian_1d, sep_filter_valid

__all__ = ["mef_ssim", "mef_ms_ssim", "mef_ssim_single_scale"]

_EPS = np.finfo(np.float64).eps
_WIN = 11
_SIGMA = 1.5
_LEVEL_WEIGHTS = (0.0448, 0.2856, 0.3001)


def mef_ssim_single_scale(seq: Sequence[np.ndarray], f: np.ndarray, k: float = 0.03) -> float:
    """Single-scale MEF-SSIM of fused ``f`` against the exposure stack ``seq`` (11x11 windows, 'valid').

    For each 11x11 patch ``x_k`` of source ``k`` (``mu_k`` its box mean, ``d_k = ||x_k - mu_k||``,
    ``ed_k = d_k + 0.001``):

    * consistency ``R = (||S - mean S|| + eps) / (sum_k d_k + eps)`` with ``S = sum_k x_k``, clipped to
      ``(eps, 1 - eps)``; exponent ``p = min(tan(pi R / 2), 10)``;
    * weights ``w_k = (ed_k / 11)^p + eps``, normalised to sum 1;
    * desired patch ``r = sum_k w_k (x_k - mu_k) / ed_k``, rescaled to norm ``max_k ed_k`` (if non-zero);
    * ``q = (2 s_rf + C) / (s_r^2 + s_f^2 + C)`` with Gaussian-weighted (sigma 1.5, unit-sum 11x11)
      variances/covariance of ``r`` and the fused patch, ``C = (0.03 * 255)^2``.

    Every quantity is a bilinear form in the patches, so with ``c_k = w_k / ed_k`` and box / Gaussian
    local covariances ``U_kl``, ``G_kl``, ``G_kf``: ``||r||^2 = 121 sum c_k c_l U_kl`` before the
    rescaling by ``s = max ed / ||r||``, ``s_r^2 = s^2 sum c_k c_l G_kl``, ``s_rf = s sum c_k G_kf``.
    A source that is exactly constant over a window contributes exactly zero there (the reference
    code sees only round-off in that case). Returns the mean of the quality map.
    """
    xs = [np.asarray(x, dtype=np.float64) for x in seq]
    f = np.asarray(f, dtype=np.float64)
    n = len(xs)
    box = np.full(_WIN, 1.0 / _WIN)
    gau = gaussian_1d(_WIN, _SIGMA)
    npx = float(_WIN * _WIN)

    def bx(z):
        return sep_filter_valid(z, box)

    def gs(z):
        return sep_filter_valid(z, gau)

    crop = (slice(_WIN // 2, -(_WIN // 2)), slice(_WIN // 2, -(_WIN // 2)))
    # Windows where a source is exactly constant: its centred patch is exactly zero there.
    flat = [
        (ndimage.maximum_filter(x, size=_WIN) == ndimage.minimum_filter(x, size=_WIN))[crop] for x in xs
    ]
    live = [~fl for fl in flat]

    mu = [bx(x) for x in xs]
    ubox = np.empty((n, n) + mu[0].shape)
    for i in range(n):
        for j in range(i, n):
            c = (bx(xs[i] * xs[j]) - mu[i] * mu[j]) * (live[i] & live[j])
            ubox[i, j] = ubox[j, i] = c
    d = [np.sqrt(np.maximum(npx * ubox[i, i], 0.0)) for i in range(n)]
    ed = np.stack([di + 0.001 for di in d])

    # Structural consistency R and the exponent p of the weighting.
    var_s = ubox.sum(axis=(0, 1))
    num = np.sqrt(np.maximum(npx * var_s, 0.0))
    r_cons = (num + _EPS) / (sum(d) + _EPS)
    r_cons = np.where(r_cons > 1, 1 - _EPS, r_cons)
    r_cons = np.where(r_cons < 0, _EPS, r_cons)
    p = np.minimum(np.tan(np.pi / 2 * r_cons), 10.0)

    w = (ed / _WIN) ** p + _EPS
    w = w / w.sum(axis=0)
    coef = w / ed  # c_k
    max_ed = ed.max(axis=0)

    norm_sq = npx * np.einsum("kij,klij,lij->ij", coef, ubox, coef)
    norm_r = np.sqrt(np.maximum(norm_sq, 0.0))
    pos = norm_r > 0
    scale = np.where(pos, max_ed / np.where(pos, norm_r, 1.0), 1.0)

    gm = [gs(x) for x in xs]
    gf = gs(f)
    gvar_f = gs(f * f) - gf * gf
    gcov = np.empty((n, n) + gf.shape)
    for i in range(n):
        for j in range(i, n):
            c = (gs(xs[i] * xs[j]) - gm[i] * gm[j]) * (live[i] & live[j])
            gcov[i, j] = gcov[j, i] = c
    gcov_f = np.stack([(gs(xs[i] * f) - gm[i] * gf) * live[i] for i in range(n)])

    sigma_r = scale**2 * np.einsum("kij,klij,lij->ij", coef, gcov, coef)
    sigma_rf = scale * np.einsum("kij,kij->ij", coef, gcov_f)
    c = (k * 255.0) ** 2
    qmap = (2.0 * sigma_rf + c) / (sigma_r + gvar_f + c)
    return float(qmap.mean())


def _downsample(x: np.ndarray) -> np.ndarray:
    """``imfilter(x, ones(2)/4, 'symmetric', 'same')`` then every second row/column from the first."""
    xp = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    avg = 0.25 * (xp[:-1, :-1] + xp[1:, :-1] + xp[:-1, 1:] + xp[1:, 1:])
    return avg[::2, ::2]


def mef_ms_ssim(
    seq: Sequence[np.ndarray],
    f: np.ndarray,
    k: float = 0.03,
    weights: Sequence[float] = _LEVEL_WEIGHTS,
) -> float:
    """Multi-scale MEF-SSIM of fused ``f`` against an exposure stack (any number of sources).

    ``Q = prod_l Q_l^(w_l)`` over ``len(weights)`` scales (default 3, weights (0.0448, 0.2856, 0.3001)
    renormalised to sum 1), ``Q_l`` the single-scale index (:func:`mef_ssim_single_scale`). Between
    scales every image is averaged over 2x2 blocks (symmetric padding at the far border) and
    subsampled by 2. A negative scale score is clipped to 0 (so the index is 0). Returns ``-inf``
    when the coarsest scale is narrower than the 11-pixel window.
    """
    xs = [np.asarray(x, dtype=np.float64) for x in seq]
    f = np.asarray(f, dtype=np.float64)
    wts = np.asarray(weights, dtype=np.float64)
    wts = wts / wts.sum()
    levels = len(wts)
    if min(f.shape) / 2 ** (levels - 1) < _WIN:
        return float("-inf")
    qs = []
    for level in range(levels):
        if level:
            xs = [_downsample(x) for x in xs]
            f = _downsample(f)
        qs.append(mef_ssim_single_scale(xs, f, k))
    # A negative scale score (anti-correlated structure; the reference code would return a complex
    # number) is clipped to 0, which makes the whole index 0.
    return float(np.prod(np.maximum(np.asarray(qs), 0.0) ** wts))


def mef_ssim(a, b, f) -> float:
    """MEF-SSIM, Ma et al.'s multi-exposure fusion quality (3-scale). Higher is better (at most 1).

    The two sources form the exposure stack. Patch-wise the index compares the fused patch's
    structure with a "desired" structure built from the sources (weighted by their contrast, with
    the weighting sharpened where the sources' structures agree), SSIM-style without a luminance
    term: ``q = (2 s_rf + C) / (s_r^2 + s_f^2 + C)``, ``C = (0.03 * 255)^2``, Gaussian 11x11 window
    (sigma 1.5), 'valid' region; 3 scales combined as ``prod Q_l^w_l`` with weights
    (0.0448, 0.2856, 0.3001)/sum; 2x2-mean downsampling. Details in :func:`mef_ssim_single_scale`.

    Designed for multi-exposure fusion; for other tasks it is still defined but not meaningful.
    Inputs on a 0..255 scale (the constant C assumes it). Matches ``MEF_SSIM`` in the reference
    values = ``mef_ms_ssim.m`` (Ma et al., as shipped in MEFB) with the two sources stacked.
    """
    a, b, f = check_triple(a, b, f)
    return mef_ms_ssim([a, b], f)
