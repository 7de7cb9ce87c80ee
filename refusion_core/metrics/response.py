"""How a fusion method responds to its inputs' brightness: a probe of the model, not a paper metric.

A pair darkened by a common factor k (both sources times k, as a dimmer scene or a shorter exposure gives) should
fuse to about k times the fused pair: the average and the Laplacian pyramid do exactly, the authors' released
checkpoints within 5 of 255 levels at k = 0.1 on the sample pairs. The infrared–visible default of 2026-12-05,
trained on RoadScene, whose train split has no dark regions, did not: its sample pair times 0.1 fused 80 levels
brighter than a tenth of the fused pair, and a black pair to 0.32 grey (docs/BENCHMARKS.md, "Dark inputs").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["DARK_FACTOR", "DARK_LIMIT", "dark_lift", "dark_lift_pairs"]

DARK_FACTOR = 0.1
"""The factor the pairs are darkened by: a white of 255 becomes 25.5."""

DARK_LIMIT = 16.0
"""The largest dark lift that passes, in levels of 255 (a sixteenth of the range): the released checkpoints lift
a darkened sample pair by at most 4.4 levels (medical), the shipped defaults other than infrared–visible by 7.2."""


def dark_lift(fuse: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
              factor: float = DARK_FACTOR) -> float:
    """255 · (mean F(k·a, k·b) − k · mean F(a, b)): 0 for a method that scales with its input, positive where a
    dark pair comes out lifted toward grey, in levels of an 8-bit image.

    Args:
        fuse: ``(ya, yb) -> fused``, float32 (H, W) luminance in [0, 1] (see
            :func:`refusion_core.fusing.stack.as_luminance_fuser`).
        a, b: float32 (H, W) luminance in [0, 1].
        factor: k, in (0, 1].
    """
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"factor must be in (0, 1], not {factor}")
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    k = np.float32(factor)
    return 255.0 * (float(np.mean(fuse(a * k, b * k))) - factor * float(np.mean(fuse(a, b))))


def dark_lift_pairs(fuse: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    pairs: Sequence[tuple[np.ndarray, np.ndarray]], factor: float = DARK_FACTOR) -> float:
    """The mean of :func:`dark_lift` over ``pairs``."""
    if not pairs:
        raise ValueError("no pairs")
    return float(np.mean([dark_lift(fuse, a, b, factor) for a, b in pairs]))
