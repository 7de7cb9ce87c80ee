"""Where a fused image lies relative to its sources' per-pixel hull, and how far SCD can go inside it.

ReFusion's fusion loss (PAPER.md, Eq. 2) has a convex combination of the sources as its intensity target at every
pixel: P's maps pass through a softmax, so w_a + w_b = 1 and the target w_a·A + w_b·B lies in the hull
[min(A, B), max(A, B)]. A model trained to it fuses inside the hull up to F's error. Some of the paper metrics
reward leaving it: SCD correlates F − B with A and F − A with B, which a sum A + B satisfies best (SCD 2), and EN
rises with any lift of a black background. The authors' released medical checkpoint leaves the hull at 86 % of the
pixels of Harvard's pairs (its background lifted by about 7.5 levels of 255); clipped to the hull, its EN falls
from 4.84 to 3.85 and its SCD from 1.60 to 1.44 on the campaign's hold-out, where the shipped default has 4.14 and
1.42 (docs/BENCHMARKS.md, "Inside the sources' hull"). :func:`en_in_hull_bound` and :func:`scd_in_hull` measure how far
EN and SCD can go for any image inside the hull: what a model of the paper's loss can be asked to reach.
"""

from __future__ import annotations

import numpy as np
import torch

from refusion_core.metrics._common import check_triple
from refusion_core.metrics.basic import scd

__all__ = ["clip_to_hull", "en_in_hull_bound", "outside_hull", "scd_in_hull"]

HULL_TOLERANCE = 2.0
"""Levels of 255 a pixel may stray outside the hull and still count as inside (8-bit rounding, F's error)."""


def outside_hull(a, b, f, tol: float = HULL_TOLERANCE) -> float:
    """Fraction of the pixels of ``f`` more than ``tol`` outside [min(a, b), max(a, b)]; arrays on one 0..255
    scale (:func:`refusion_core.metrics.to_gray255`). 0 for any per-pixel convex combination of a and b."""
    a, b, f = check_triple(a, b, f)
    return float(((f > np.maximum(a, b) + tol) | (f < np.minimum(a, b) - tol)).mean())


def clip_to_hull(a, b, f) -> np.ndarray:
    """``f`` clipped, pixel by pixel, to [min(a, b), max(a, b)] (float64): the nearest image inside the hull."""
    a, b, f = check_triple(a, b, f)
    return np.clip(f, np.minimum(a, b), np.maximum(a, b))


def en_in_hull_bound(a, b) -> float:
    """An upper bound of EN (:func:`refusion_core.metrics.basic.en`, bin floor(v)) over all images inside the hull.

    A pixel whose hull lies in one bin (floor(min) = floor(max): both sources black, say) is fixed there; the
    others are let take any level, which only loosens the bound, and the entropy of such a histogram is at most
    that of the fixed pixels' histogram with the free ones poured into the emptiest bins (water-filling). Exact
    where every pixel is fixed (a = b) or every pixel free. Arrays on one 0..255 scale.
    """
    a, b, _ = check_triple(a, b, a)
    lo = np.floor(np.clip(np.minimum(a, b), 0, 255))
    hi = np.floor(np.clip(np.maximum(a, b), 0, 255))
    fixed = lo == hi
    counts = np.bincount(lo[fixed].astype(np.int64), minlength=256).astype(np.float64)
    free = float((~fixed).sum())
    low, high = 0.0, counts.max() + free  # the water level L: sum(max(L - counts, 0)) = free
    for _ in range(200):
        level = 0.5 * (low + high)
        low, high = (level, high) if np.maximum(level - counts, 0).sum() <= free else (low, level)
    filled = np.maximum(counts, low)
    filled[np.argmin(filled)] += free - (filled - counts).sum()  # the bisection's remainder, so the sum is exact
    p = filled[filled > 0] / filled.sum()
    return float(-(p * np.log2(p)).sum())


def _corr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / torch.sqrt((x * x).sum() * (y * y).sum()).clamp_min(1e-12)


def scd_in_hull(a, b, steps: int = 1500, lr: float = 0.3) -> tuple[float, np.ndarray]:
    """The highest SCD found among the images t·a + (1 − t)·b, t ∈ [0, 1] per pixel, and that image.

    Gradient ascent (Adam on t's logits, float64) from three starts — the average, the per-pixel maximum and the
    per-pixel minimum — keeping the best, scored by :func:`refusion_core.metrics.basic.scd` itself. SCD is not
    concave in t, so this is the best found, a lower bound of the supremum: a method inside the hull that scores
    above it would refute it. Arrays on one 0..255 scale; 256² takes about a second per start.
    """
    a64, b64, _ = check_triple(a, b, a)
    ta, tb = torch.from_numpy(a64), torch.from_numpy(b64)
    starts = [torch.full_like(ta, 0.5), (ta >= tb).double(), (ta < tb).double()]
    best, best_f = -np.inf, None
    for t0 in starts:
        z = torch.logit(t0.clamp(0.02, 0.98)).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for _ in range(steps):
            f = torch.sigmoid(z) * (ta - tb) + tb
            loss = -(_corr(f - tb, ta) + _corr(f - ta, tb))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            f = (torch.sigmoid(z) * (ta - tb) + tb).numpy()
        value = scd(a64, b64, f)
        if value > best:
            best, best_f = value, f
    return best, best_f
