"""Input scaling: 16-bit read without loss, percentile stretch, the auto rule, 16-bit kept through fusion."""

import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.io.images import read_image, write_image
from refusion_core.io.scaling import looks_raw, percentile_range, percentile_stretch, prepare_input


def thermal(h=40, w=50, seed=0) -> np.ndarray:
    """Raw radiometric-like uint16: centi-kelvin around 20..40 °C plus two dead and one hot pixel."""
    rng = np.random.default_rng(seed)
    x = 29315 + 2000 * rng.random((h, w))
    x[0, 0], x[0, 1], x[1, 0] = 0, 65535, 60000
    return x.astype(np.uint16)


def test_16bit_thermal_round_trips_without_loss(tmp_path):
    x = thermal()
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "t.png", x)), x)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "t.tif", x)), x)


def test_percentile_stretch_ignores_sentinels_and_outliers():
    x = thermal()
    lo, hi = percentile_range(x)
    assert 29315 <= lo < 29400 and 31200 < hi <= 31315  # 0, 65535 and the lone hot pixel do not count
    y = percentile_stretch(x)
    assert y.dtype == np.float32 and y.min() == 0.0 and y.max() == 1.0
    inside = (x > lo) & (x < hi)
    np.testing.assert_allclose(y[inside], (x[inside] - lo) / (hi - lo), atol=1e-6)


def test_auto_rule():
    assert looks_raw(thermal())
    wide = np.linspace(0, 65535, 2000).astype(np.uint16).reshape(40, 50)
    assert not looks_raw(wide)  # a 16-bit photograph
    assert not looks_raw((thermal() // 256).astype(np.uint8))  # 8-bit: never
    assert not looks_raw(np.dstack([thermal()] * 3))  # colour: never


def test_prepare_input_modes():
    x8 = (np.arange(2000) % 200).astype(np.uint8).reshape(40, 50)
    assert prepare_input(x8) is x8 and prepare_input(thermal(), "none").dtype == np.uint16
    s = prepare_input(thermal())
    assert s.dtype == np.uint16 and s.min() == 0 and s.max() == 65535
    p8 = prepare_input(x8, "percentile")
    assert p8.dtype == np.uint16 and p8.max() == 65535  # 8-bit stretched only when asked
    with pytest.raises(InputError, match="Unknown input stretch"):
        prepare_input(x8, "log")
    with pytest.raises(InputError, match="Percentiles"):
        percentile_stretch(x8, (50, 10))


def test_constant_and_nan_images():
    assert percentile_stretch(np.full((4, 4), 7, np.uint16)).max() == 0.0
    f = np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32)
    assert np.isfinite(percentile_stretch(f, (0, 100))).all()
    with pytest.raises(InputError, match="no valid"):
        percentile_stretch(np.full((2, 2), np.nan, np.float32))
