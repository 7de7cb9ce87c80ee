"""Tests for refusion_core.fusing.baselines: shapes, ranges, identities, sharpness on a multi-focus pair."""

from __future__ import annotations

import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.fusing.baselines import (
    BASELINES,
    average,
    default_levels,
    fuse_baseline,
    laplacian_pyramid,
    mertens,
)
from refusion_core.training.synthetic import exposure_pair, multifocus_pair


def texture(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """Deterministic textured (H, W) float32 image in [0, 1]: lightly smoothed noise plus stripes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.5 + 0.2 * np.sin(x / 3.0) * np.cos(y / 5.0) + 0.15 * rng.standard_normal((h, w))
    return np.clip(img, 0, 1).astype(np.float32)


def grad_energy(x: np.ndarray) -> float:
    """Mean squared finite difference (both axes)."""
    return float(np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2))


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("shape", [(64, 80), (33, 47), (1, 1), (5, 3)])
def test_shape_dtype_range(name: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    a = rng.random(shape, dtype=np.float32)
    b = rng.random(shape, dtype=np.float32)
    out = fuse_baseline(name, a, b)
    assert out.shape == shape
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_float64_input_gives_float32() -> None:
    a = texture().astype(np.float64)
    assert laplacian_pyramid(a, a).dtype == np.float32


def test_average_of_identical_is_identity() -> None:
    img = texture()
    np.testing.assert_allclose(average(img, img), img, atol=1e-7)


def test_average_is_mean() -> None:
    a, b = texture(seed=1), texture(seed=2)
    np.testing.assert_allclose(average(a, b), (a + b) / 2, atol=1e-6)


@pytest.mark.parametrize("shape", [(96, 128), (97, 131), (31, 33)])
def test_laplacian_of_identical_is_identity(shape: tuple[int, int]) -> None:
    img = texture(*shape)
    np.testing.assert_allclose(laplacian_pyramid(img, img), img, atol=1e-5)


@pytest.mark.parametrize("levels", [1, 3, 5])
def test_laplacian_explicit_levels_odd_size(levels: int) -> None:
    a, b = multifocus_pair(texture(75, 101))
    out = laplacian_pyramid(a, b, levels=levels, window=1)
    assert out.shape == (75, 101)


def test_laplacian_rejects_zero_levels() -> None:
    img = texture()
    with pytest.raises(ValueError):
        laplacian_pyramid(img, img, levels=0)


def test_default_levels() -> None:
    assert default_levels((512, 512)) == 6
    assert default_levels((4, 4)) == 1
    assert 1 <= default_levels((300, 451)) <= 7


@pytest.mark.parametrize("shape", [(96, 128), (97, 133)])
def test_laplacian_sharper_than_average_on_multifocus(shape: tuple[int, int]) -> None:
    img = texture(*shape)
    a, b = multifocus_pair(img, sigma=3.0)
    lap, avg = laplacian_pyramid(a, b), average(a, b)
    w, m = shape[1], 10
    for cols in (slice(0, w // 2 - m), slice(w // 2 + m, w)):
        assert grad_energy(lap[:, cols]) > 1.3 * grad_energy(avg[:, cols])
    # closer to the all-in-focus truth than the average
    assert np.mean((lap - img) ** 2) < np.mean((avg - img) ** 2)


def test_mertens_prefers_well_exposed() -> None:
    img = texture()
    under, over = exposure_pair(img, stops=2.0)
    fused = mertens(under, over)
    mid = np.abs(fused - 0.5).mean()
    assert mid < np.abs(under - 0.5).mean() and mid < np.abs(over - 0.5).mean()


def test_unknown_name_raises() -> None:
    img = texture()
    with pytest.raises(ValueError, match="Unknown baseline 'nope'.*average.*laplacian.*mertens"):
        fuse_baseline("nope", img, img)


def test_shape_mismatch_and_colour_rejected() -> None:
    with pytest.raises(InputError):
        average(texture(32, 32), texture(32, 33))
    with pytest.raises(InputError):
        laplacian_pyramid(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32))


def test_registry_functions_match() -> None:
    assert BASELINES["average"] is average
    assert BASELINES["laplacian"] is laplacian_pyramid
    assert BASELINES["mertens"] is mertens
