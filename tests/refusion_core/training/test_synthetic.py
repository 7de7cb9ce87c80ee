"""Tests for refusion_core.training.synthetic: blurred regions, exposure clipping, focus stacks, warps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.training.synthetic import (
    clipped_mask,
    exposure_pair,
    focus_masks,
    focus_stack,
    focus_stack_kept,
    multifocus_pair,
    quarter_energy,
    similarity_homography,
    warp_pair,
    warp_valid_mask,
)


def texture(h: int = 96, w: int = 128, seed: int = 0, channels: int = 0) -> np.ndarray:
    """Deterministic textured float32 image in [0, 1], (H, W) or (H, W, channels)."""
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels else (h, w)
    img = 0.5 + 0.15 * rng.standard_normal(shape)
    return np.clip(img, 0, 1).astype(np.float32)


def grad_energy(x: np.ndarray) -> float:
    """Mean squared finite difference (both axes)."""
    return float(np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2))


@pytest.mark.parametrize("channels", [0, 3])
def test_multifocus_halves(channels: int) -> None:
    img = texture(channels=channels)
    a, b = multifocus_pair(img, sigma=3.0)
    assert a.shape == b.shape == img.shape and a.dtype == b.dtype == np.float32
    assert 0.0 <= min(a.min(), b.min()) and max(a.max(), b.max()) <= 1.0
    m = 10
    left, right = slice(0, 64 - m), slice(64 + m, 128)
    assert grad_energy(a[:, left]) < 0.2 * grad_energy(a[:, right])
    assert grad_energy(b[:, right]) < 0.2 * grad_energy(b[:, left])
    np.testing.assert_allclose(a[:, right], img[:, right], atol=1e-4)
    np.testing.assert_allclose(b[:, left], img[:, left], atol=1e-4)


def test_multifocus_is_deterministic_and_uint8_accepted() -> None:
    img = texture()
    a1, b1 = multifocus_pair(img)
    a2, b2 = multifocus_pair((img * 255 + 0.5).astype(np.uint8))
    np.testing.assert_allclose(a1, a2, atol=3e-3)
    np.testing.assert_array_equal(a1, multifocus_pair(img)[0])
    assert b1.shape == b2.shape


def test_transition_is_smooth() -> None:
    masks = focus_masks((20, 100), 2, band=6.0)
    row = masks[0][10]
    assert row[0] == pytest.approx(1.0, abs=1e-6) and row[-1] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(row) <= 1e-6)  # monotone
    assert np.count_nonzero((row > 0.01) & (row < 0.99)) >= 4  # a band, not a step


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_focus_masks_partition(n: int) -> None:
    masks = focus_masks((40, 60), n)
    assert len(masks) == n
    np.testing.assert_allclose(np.sum(masks, axis=0), 1.0, atol=1e-5)


def test_focus_stack_quadrants() -> None:
    img = texture(channels=3)
    frames = focus_stack(img, n=4, sigma=3.0)
    assert len(frames) == 4
    m = 10
    quads = [
        (slice(0, 48 - m), slice(0, 64 - m)),
        (slice(0, 48 - m), slice(64 + m, 128)),
        (slice(48 + m, 96), slice(0, 64 - m)),
        (slice(48 + m, 96), slice(64 + m, 128)),
    ]
    for i, frame in enumerate(frames):
        energies = [grad_energy(frame[q]) for q in quads]
        assert int(np.argmax(energies)) == i
        others = [e for j, e in enumerate(energies) if j != i]
        assert max(others) < 0.2 * energies[i]


def test_quarter_energy_sees_detail_only_where_it_is() -> None:
    img = np.full((96, 128), 0.5, np.float32)
    img[48:, 64:] = texture(48, 64)  # detail in the fourth quarter only
    e = quarter_energy(img)
    assert e.shape == (4,) and e[3] > 0
    np.testing.assert_allclose(e[:3], 0.0, atol=1e-12)
    img[:, 64] = 1.0  # a line on the seam: the margin leaves it out
    np.testing.assert_allclose(quarter_energy(img)[:3], 0.0, atol=1e-12)


@pytest.mark.parametrize("channels", [0, 3])
def test_focus_stack_kept_tells_a_sharp_fusion_from_a_blurring_one(channels: int) -> None:
    img = texture(channels=channels)

    def pick_sharper(a, b):  # a per-pixel oracle: the source with the larger local gradient energy
        ea, eb = (cv2.blur(cv2.Sobel(x, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(x, cv2.CV_32F, 0, 1) ** 2, (9, 9))
                  for x in (a, b))
        return np.where(ea >= eb, a, b)

    sharp = focus_stack_kept(pick_sharper, img)
    blurred = focus_stack_kept(lambda a, b: (a + b) / 2, img)
    assert sharp.shape == (4,) and np.all(sharp > 0.9), sharp
    assert np.all(blurred < 0.1), blurred  # averaged twice: a quarter of the sharp frame's amplitude
    np.testing.assert_allclose(focus_stack_kept(lambda a, b: a, img)[0], 1.0, rtol=1e-5)  # frame 1 is quarter 1's


def test_exposure_pair_clipping() -> None:
    ramp = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (8, 1))
    under, over = exposure_pair(ramp, stops=2.0)
    assert under.dtype == over.dtype == np.float32
    x = ramp[0]
    assert np.all(under <= ramp + 1e-6)
    assert np.all(over[:, x > 0.1] >= ramp[:, x > 0.1])  # the black level only bites near 0
    crushed = clipped_mask(under, which="low")
    blown = clipped_mask(over, which="high")
    # shadows crush only in `under`, highlights clip only in `over`
    assert crushed[:, x < 0.2].all() and not crushed[:, x > 0.35].any()
    assert blown[:, x > 0.6].all() and not blown[:, x < 0.45].any()
    assert not clipped_mask(under, which="high").any()
    assert not clipped_mask(over, which="low")[:, x > 0.1].any()
    np.testing.assert_array_equal(clipped_mask(under), crushed | clipped_mask(under, which="high"))


def test_exposure_pair_zero_stops_is_nearly_identity() -> None:
    img = texture()
    under, over = exposure_pair(img, stops=0.0, black=0.0)
    np.testing.assert_allclose(under, img, atol=1e-5)
    np.testing.assert_allclose(over, img, atol=1e-5)


def test_clipped_mask_colour_and_bad_which() -> None:
    x = np.array([[[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [1.0, 0.5, 0.5], [0.5, 0.5, 0.5]]], np.float32)
    np.testing.assert_array_equal(clipped_mask(x), [[True, False, True, False]])
    with pytest.raises(ValueError):
        clipped_mask(x, which="middle")


@pytest.mark.parametrize("channels", [0, 3])
def test_warp_identity(channels: int) -> None:
    img = texture(channels=channels)
    a, b = warp_pair(img, np.eye(3))
    np.testing.assert_array_equal(a, img)
    np.testing.assert_allclose(b, img, atol=1e-6)
    assert warp_valid_mask(img.shape, np.eye(3)).all()


def test_warp_translation() -> None:
    img = texture()
    H = similarity_homography(img.shape, tx=5, ty=-3)
    _, b = warp_pair(img, H)
    np.testing.assert_allclose(b[0:90, 5:], img[3:93, :-5], atol=1e-5)
    valid = warp_valid_mask(img.shape, H)
    assert not valid[:, :5].any() and not valid[-3:, :].any() and valid[:-3, 5:].all()


def test_warp_bad_inputs() -> None:
    with pytest.raises(ValueError):
        warp_pair(texture(), np.eye(2))
    with pytest.raises(InputError):
        multifocus_pair(np.zeros((4, 4, 2), np.float32))
