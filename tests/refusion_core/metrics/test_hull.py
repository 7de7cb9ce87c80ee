"""The sources' per-pixel hull (refusion_core.metrics.hull): convex combinations stay inside and a lift leaves it;
the EN bound holds above every image inside it and is exact at its ends; the SCD search beats every simple fusion
inside the hull while staying inside it."""

import cv2
import numpy as np
import pytest

from refusion_core.metrics.basic import en, scd
from refusion_core.metrics.hull import HULL_TOLERANCE, clip_to_hull, en_in_hull_bound, outside_hull, scd_in_hull


def scans(size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 0..255 'modalities' with structure in different places on a black background, as Harvard's pairs."""
    rng = np.random.default_rng(seed)
    a, b = np.zeros((size, size)), np.zeros((size, size))
    cv2.circle(a, (size // 2, size // 2), size // 3, 120.0, -1)
    cv2.circle(b, (size // 3, size // 2), size // 5, 220.0, -1)
    a += 60 * cv2.GaussianBlur(rng.random((size, size)), (0, 0), 1.5) * (a > 0)
    return np.clip(a, 0, 255), np.clip(b, 0, 255)


def test_convex_combinations_are_inside_and_a_lift_is_outside():
    a, b = scans()
    t = np.random.default_rng(1).random(a.shape)
    assert outside_hull(a, b, t * a + (1 - t) * b) == 0.0
    lifted = np.maximum(a, b) + 3 * HULL_TOLERANCE
    assert outside_hull(a, b, lifted) == 1.0
    assert outside_hull(a, b, np.maximum(a, b) + HULL_TOLERANCE / 2) == 0.0  # within the tolerance
    clipped = clip_to_hull(a, b, lifted)
    assert outside_hull(a, b, clipped, tol=0.0) == 0.0
    np.testing.assert_array_equal(clipped, np.maximum(a, b))


def test_scd_search_beats_simple_fusions_inside_the_hull():
    a, b = scans()
    best, f = scd_in_hull(a, b, steps=300)
    assert outside_hull(a, b, f, tol=1e-6) == 0.0
    assert best == pytest.approx(scd(a, b, f))
    rng = np.random.default_rng(2)
    simple = [np.maximum(a, b), np.minimum(a, b), 0.5 * (a + b)]
    simple += [t * a + (1 - t) * b for t in rng.random((3, *a.shape))]
    assert best >= max(scd(a, b, g) for g in simple) + 0.01
    assert best < scd(a, b, a + b)  # the sum, outside the hull, scores 2 (up to the clipping it does not do)


def test_en_bound_holds_inside_the_hull_and_is_exact_at_its_ends():
    a, b = scans()
    bound = en_in_hull_bound(a, b)
    rng = np.random.default_rng(3)
    inside = [np.maximum(a, b), np.minimum(a, b), 0.5 * (a + b)]
    inside += [t * a + (1 - t) * b for t in rng.random((5, *a.shape))]
    assert all(en(a, b, f) <= bound + 1e-9 for f in inside)
    noise = rng.uniform(0, 255, a.shape)  # every level, black background included: outside the hull and the bound
    assert outside_hull(a, b, noise) > 0.5 and en(a, b, noise) > bound + 1
    assert en_in_hull_bound(a, a) == pytest.approx(en(a, a, a))  # every pixel fixed: the bound is EN itself
    zeros, whites = np.zeros((64, 64)), np.full((64, 64), 255.0)
    assert en_in_hull_bound(zeros, whites) == pytest.approx(8.0)  # every pixel free: all 256 levels, equally
