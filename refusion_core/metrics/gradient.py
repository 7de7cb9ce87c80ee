"""Gradient-based fusion metric: Xydeas & Petrovic's Q^AB/F.

Reference: C. S. Xydeas and V. Petrovic, "Objective image fusion performance measure",
Electronics Letters 36(4), 2000; reproduced as MEFB's ``metricsQabf.m`` computes it under GNU Octave
(``shared/reference/metrics/values.json``), quirks included.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from refusion_core.metrics._common import check_triple

__all__ = ["qabf"]

# Sobel kernels as MEFB applies them with conv2 (true convolution, so the kernels are flipped):
# gx is (left - right) neighbours, gy is (lower - upper) neighbours, 1-2-1 weighted. The
# signs matter only through the "pi/2 where gx == 0" rule, which does not flip with gx.
_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_Y = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])

# Sigmoid constants of the edge-strength and orientation preservation terms.
_TG, _KG, _DG = 0.9994, -15.0, 0.5
_TA, _KA, _DA = 0.9879, -22.0, 0.8


def _sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength and orientation: zero-padded same-size Sobel, ``atan(gy/gx)`` (pi/2 where gx == 0)."""
    gx = ndimage.convolve(x, _SOBEL_X, mode="constant", cval=0.0)
    gy = ndimage.convolve(x, _SOBEL_Y, mode="constant", cval=0.0)
    g = np.sqrt(gx * gx + gy * gy)
    zero = gx == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(zero, np.pi / 2, np.arctan(gy / np.where(zero, 1.0, gx)))
    return g, alpha


def _preservation(gx, ax, gf, af) -> np.ndarray:
    """Q^XF per pixel: sigmoid(strength ratio) * sigmoid(orientation agreement)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gx > gf, gf / np.where(gx > gf, gx, 1.0), gx / np.where(gf > gx, gf, 1.0))
    # MEFB quirk: where gX == gF the ratio is set to gF (not 1); also covers gX == gF == 0 -> 0.
    ratio = np.where(gx == gf, gf, ratio)
    orient = 1.0 - np.abs(ax - af) / (np.pi / 2)
    qg = _TG / (1.0 + np.exp(np.clip(_KG * (ratio - _DG), -700, 700)))
    qa = _TA / (1.0 + np.exp(_KA * (orient - _DA)))
    return qg * qa


def qabf(a, b, f) -> float:
    """Qabf (Q^AB/F), Xydeas-Petrovic edge-preservation index. Higher is better (range 0..1).

    Edges: 3x3 Sobel responses by same-size 2-D convolution with ZERO padding (so a non-black
    image border yields strong edges there), ``gx = conv2(X, [-1 0 1; -2 0 2; -1 0 1])`` and
    ``gy = conv2(X, [1 2 1; 0 0 0; -1 -2 -1])`` as in MEFB (these signs matter, through the next
    rule), strength ``g = sqrt(gx^2 + gy^2)`` and orientation ``alpha = atan(gy / gx)``, set to
    ``pi/2`` where ``gx == 0``. For each source X:

    * strength preservation ``G = gF/gX`` if ``gX > gF``, else ``gX/gF``; quirk kept from MEFB:
      where ``gX == gF`` it is ``gF`` (not 1), computed on the x255 scaled images MEFB uses, so such
      pixels get the saturated value 0.9994;
    * orientation agreement ``A = 1 - |alpha_X - alpha_F| / (pi/2)``;
    * ``Q^XF = 0.9994 / (1 + exp(-15 (G - 0.5))) * 0.9879 / (1 + exp(-22 (A - 0.8)))``.

    ``Qabf = sum(Q^AF gA + Q^BF gB) / sum(gA + gB)`` (edge-strength weights, L = 1); 0 when neither
    source has any edge. Matches MEFB ``metricsQabf.m``.
    """
    a, b, f = check_triple(a, b, f)
    # MEFB multiplies the 0..255 inputs by 255 once more; only the gX == gF quirk notices.
    ga, aa = _sobel(a * 255.0)
    gb, ab = _sobel(b * 255.0)
    gf, af = _sobel(f * 255.0)
    den = np.sum(ga + gb)
    if den == 0:
        return 0.0
    num = np.sum(_preservation(ga, aa, gf, af) * ga + _preservation(gb, ab, gf, af) * gb)
    return float(num / den)
