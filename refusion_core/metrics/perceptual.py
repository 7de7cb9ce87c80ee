"""Human-visual-system based metrics: Chen-Blum Q_CB, Chen-Varshney Q_CV and Han et al.'s VIF.

Inputs are 2-D arrays on a 0..255 scale. Reference: MEFB ``metricsQcb.m``, ``metricsQcv.m`` and
``metricsVIF.m`` under GNU Octave (``shared/reference/metrics/values.json``); FFT and filtering
round-off keeps the agreement at about 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from refusion_core.errors import InputError
from refusion_core.metrics._common import check_triple, gaussian_1d, normalize1, sep_filter_same, sep_filter_valid

__all__ = ["q_cb", "q_cv", "vif"]


def _freq_radius(shape: tuple[int, int], divisor: float) -> np.ndarray:
    """Radial frequency on MATLAB's ``freqspace(shape, 'meshgrid')`` grid, scaled by (N, M)/divisor.

    ``freqspace`` gives ``((0:n-1) - floor(n/2)) * 2 / n`` along each axis (the centred, fftshift-ed
    layout); the column axis is scaled by ``N / divisor`` and the row axis by ``M / divisor``.
    """
    m, n = shape
    u = (np.arange(n) - n // 2) * 2.0 / n * (n / divisor)
    v = (np.arange(m) - m // 2) * 2.0 / m * (m / divisor)
    return np.sqrt(u[None, :] ** 2 + v[:, None] ** 2)


def _filter_centred_spectrum(x: np.ndarray, h_centred: np.ndarray) -> np.ndarray:
    """``real(ifft2(ifftshift(fftshift(fft2(x)) .* H)))`` for a filter ``H`` given in centred layout."""
    return np.real(np.fft.ifft2(np.fft.fft2(x) * np.fft.ifftshift(h_centred)))


# ---------------------------------------------------------------------------------------------
# Q_CB

_F0, _F1, _A = 15.3870, 1.3456, 0.7622


def _analytic_gaussian(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """1-D factors of ``exp(-(x^2+y^2)/(2 sigma^2)) / (2 pi sigma^2)`` on a 31x31 support."""
    g = gaussian_1d(31, sigma, normalise=False)
    return g / (2.0 * np.pi * sigma * sigma), g


def _masked_contrast(x: np.ndarray, g2, g4) -> np.ndarray:
    num, den = sep_filter_same(x, *g2), sep_filter_same(x, *g4)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.abs(num / den - 1.0)
    c = np.where(den == 0, 0.0, c)  # no signal at all (MEFB would give NaN): no contrast
    return c**3 / (c**2 + 1e-4)


def q_cb(a, b, f) -> float:
    """Q_CB, Chen & Blum's perceptual fusion quality. Higher is better (range 0..1).

    1. ``normalize1`` on each image (min-max stretch to 0..255, rounded half away from zero).
    2. Contrast sensitivity filtering in the frequency domain with the DoG CSF
       ``S(r) = exp(-(r/15.3870)^2) - 0.7622 exp(-(r/1.3456)^2)``, ``r`` on MATLAB's ``freqspace``
       grid scaled by (N/30, M/30) (N columns, M rows); the real part of the inverse FFT is kept.
    3. Local contrast ``C = |(I * G_2) / (I * G_4) - 1|`` with Gaussians of sigma 2 and 4 on 31x31
       supports, normalised analytically by ``1/(2 pi sigma^2)`` (not to unit sum), same-size
       filtering with zero padding (C = 0 where the sigma-4 blur is exactly 0); masked contrast
       ``C' = C^3 / (C^2 + 1e-4)``.
    4. ``Q_XF = min(C'_X / C'_F, C'_F / C'_X)`` (1 where both are 0); saliency
       ``lam_X = C'_X^2 / (C'_A^2 + C'_B^2)`` (1/2 each where both are 0);
       ``Q_CB = mean(lam_A Q_AF + lam_B Q_BF)``.

    Matches MEFB ``metricsQcb.m`` (which returns NaN in the degenerate zero-contrast cases handled
    above). Where a source has large exactly-black areas (CT slices) the CSF-filtered image there is
    pure FFT round-off and so is the contrast ratio, so agreement is ~1e-4 relative there (7e-5 on
    MIF_CT_19) and ~1e-6 elsewhere.
    """
    a, b, f = check_triple(a, b, f)
    r = _freq_radius(f.shape, 30.0)
    sd = np.exp(-((r / _F0) ** 2)) - _A * np.exp(-((r / _F1) ** 2))
    g2, g4 = _analytic_gaussian(2.0), _analytic_gaussian(4.0)
    ca, cb, cf = (_masked_contrast(_filter_centred_spectrum(normalize1(x), sd), g2, g4) for x in (a, b, f))

    def preservation(cx):
        lo, hi = np.minimum(cx, cf), np.maximum(cx, cf)
        return np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), 1.0)

    sa, sb = ca * ca, cb * cb
    tot = sa + sb
    lam_a = np.where(tot > 0, sa / np.where(tot > 0, tot, 1.0), 0.5)
    q = lam_a * preservation(ca) + (1.0 - lam_a) * preservation(cb)
    return float(q.mean())


# ---------------------------------------------------------------------------------------------
# Q_CV

_SOBEL = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
_BLOCK = 16


def _block_sum(x: np.ndarray, block: int) -> np.ndarray:
    """Sums over distinct ``block`` x ``block`` tiles, partial tiles zero-padded (``blkproc``)."""
    m, n = x.shape
    pm, pn = -m % block, -n % block
    xp = np.pad(x, ((0, pm), (0, pn)))
    return xp.reshape((m + pm) // block, block, (n + pn) // block, block).sum(axis=(1, 3))


def q_cv(a, b, f) -> float:
    """Q_CV, Chen & Varshney's HVS-weighted distortion. LOWER is better (0 for a perfect match).

    After ``normalize1`` of all three images: region saliency per 16x16 block
    ``lam_X = sum |grad X|^5`` (3x3 Sobel magnitude, same-size filtering with zero padding); the
    difference ``X - F`` filtered in the frequency domain by the Mannos-Sakrison CSF
    ``2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)``, ``r`` on MATLAB's ``freqspace`` grid scaled by
    (N/8, M/8); ``D_X`` = mean over each 16x16 block of the squared filtered difference;
    ``Q_CV = sum(lam_A D_A + lam_B D_B) / sum(lam_A + lam_B)``. Partial border blocks are zero-padded
    to 16x16 and the padding counts in the block means (MATLAB ``blkproc`` semantics).
    Matches MEFB ``metricsQcv.m`` (real part of its result).
    """
    a, b, f = check_triple(a, b, f)
    a, b, f = normalize1(a), normalize1(b), normalize1(f)
    r = _freq_radius(f.shape, 8.0)
    csf = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    num = den = 0.0
    for x in (a, b):
        gx = ndimage.correlate(x, _SOBEL.T, mode="constant", cval=0.0)
        gy = ndimage.correlate(x, _SOBEL, mode="constant", cval=0.0)
        sal = _block_sum(np.sqrt(gx * gx + gy * gy) ** 5, _BLOCK)
        diff = _filter_centred_spectrum(x - f, csf)
        dist = _block_sum(diff * diff, _BLOCK) / (_BLOCK * _BLOCK)
        num += np.sum(sal * dist)
        den += np.sum(sal)
    return float(num / den) if den > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# VIF (Han et al. 2013)

_SIGMA_N_SQ = 0.005 * 255.0 * 255.0
_SCALE_WEIGHTS = np.array([1.0, 0.0, 0.15, 1.0]) / 2.15


def _vif_terms(ref: np.ndarray, dist: np.ndarray):
    """Per-scale maps (VID, VIND, g) of the source ``ref`` and fused ``dist`` (Sheikh-Bovik model)."""
    out = []
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        win = gaussian_1d(n, n / 5.0)
        if scale > 1:
            ref = sep_filter_valid(ref, win)[::2, ::2]
            dist = sep_filter_valid(dist, win)[::2, ::2]
        mu1, mu2 = sep_filter_valid(ref, win), sep_filter_valid(dist, win)
        if mu1.size == 0:
            raise InputError("The images are too small for VIF: its four scales need at least 41x41 pixels.")
        s1 = sep_filter_valid(ref * ref, win) - mu1 * mu1
        s2 = sep_filter_valid(dist * dist, win) - mu2 * mu2
        s12 = sep_filter_valid(ref * dist, win) - mu1 * mu2
        s1 = np.maximum(s1, 0.0)
        s2 = np.maximum(s2, 0.0)
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        low1 = s1 < 1e-10
        g = np.where(low1, 0.0, g)
        sv = np.where(low1, s2, sv)
        s1 = np.where(low1, 0.0, s1)
        low2 = s2 < 1e-10
        g = np.where(low2, 0.0, g)
        sv = np.where(low2, 0.0, sv)
        neg = g < 0
        sv = np.where(neg, s2, sv)
        g = np.where(neg, 0.0, g)
        sv = np.maximum(sv, 1e-10)
        vid = np.log10(1.0 + g * g * s1 / (sv + _SIGMA_N_SQ))
        vind = np.log10(1.0 + s1 / _SIGMA_N_SQ)
        out.append((vid, vind, g))
    return out


def vif(a, b, f) -> float:
    """VIF, Han et al.'s visual information fidelity for fusion (VIFF). Higher is better.

    Four scales; scale ``s`` uses a unit-sum Gaussian window of ``N = 2^(5-s) + 1`` pixels
    (17, 9, 5, 3) with sigma ``N/5``; for ``s > 1`` both images are first low-passed with that window
    ('valid') and subsampled by 2. Local statistics with 'valid' filtering; Sheikh-Bovik
    distortion model ``g = s12 / (s1^2 + 1e-10)``, ``sv^2 = s2^2 - g s12`` with their clamping rules
    (negative variances to 0; ``g = 0`` where either variance is below 1e-10 or ``g < 0``;
    ``sv^2 >= 1e-10``); noise variance ``sn^2 = 0.005 * 255^2``.
    ``VID = log10(1 + g^2 s1^2 / (sv^2 + sn^2))``, ``VIND = log10(1 + s1^2 / sn^2)``; at each pixel
    the terms of the source with the smaller gain ``g`` are used (B on ties);
    ``F_s = sum(VID + 1e-7) / sum(VIND + 1e-7)``; ``VIF = sum_s w_s F_s`` with
    ``w = [1, 0, 0.15, 1] / 2.15``. Not capped at 1 (a fused image with more contrast than its
    sources can exceed 1). Matches MEFB ``metricsVIF.m``.
    """
    a, b, f = check_triple(a, b, f)
    ta, tb = _vif_terms(a, f), _vif_terms(b, f)
    total = 0.0
    for (vid_a, vind_a, g_a), (vid_b, vind_b, g_b), w in zip(ta, tb, _SCALE_WEIGHTS):
        use_a = g_a < g_b
        vid = np.where(use_a, vid_a, vid_b)
        vind = np.where(use_a, vind_a, vind_b)
        total += w * np.sum(vid + 1e-7) / np.sum(vind + 1e-7)
    return float(total)
