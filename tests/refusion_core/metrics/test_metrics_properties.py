"""Properties of the fusion metrics that need no reference data: identities, symmetries, scaling."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.metrics import (
    DEFAULT_METRICS,
    EXTRA_METRICS,
    METRICS,
    PAPER_METRICS,
    MetricInfo,
    ag,
    compute_metrics,
    en,
    matlab_round,
    mef_ssim,
    mi,
    normalize1,
    psnr,
    q_ncie,
    sd,
    sf,
    ssim,
    to_gray255,
)
from refusion_core.metrics.mef import mef_ssim_single_scale


def textured(h: int = 96, w: int = 112, seed: int = 0) -> np.ndarray:
    """Deterministic 0..255 integer-valued test image: smooth pattern plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 128 + 60 * np.sin(x / 5.0 + seed) * np.cos(y / 7.0) + 25 * rng.standard_normal((h, w))
    return np.clip(np.round(img), 0, 255)


@pytest.fixture(scope="module")
def triple():
    a, b = textured(seed=1), textured(seed=2)
    f = np.clip(np.round(0.5 * (a + b) + 5 * np.random.default_rng(3).standard_normal(a.shape)), 0, 255)
    return a, b, f


# --- registry ------------------------------------------------------------------------------------


def test_registry_shape():
    assert list(METRICS) == ["EN", "SD", "SF", "AG", "SCD", "SSIM", "VIF", "Qabf", "MI", "Q_CB", "Q_NCIE", "MEF-SSIM"]
    for name, info in {**METRICS, **EXTRA_METRICS}.items():
        assert isinstance(info, MetricInfo) and info.name == name
        assert callable(info.func) and info.func.__doc__ and info.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["EN"].name = "x"  # type: ignore[misc]
    assert not EXTRA_METRICS["CE"].higher_is_better and not EXTRA_METRICS["Q_CV"].higher_is_better
    assert all(info.higher_is_better for info in METRICS.values())


def test_paper_metrics():
    assert PAPER_METRICS["ivif"] == PAPER_METRICS["mif"] == ["EN", "SD", "SF", "AG", "SCD", "SSIM"]
    assert PAPER_METRICS["mfif"] == PAPER_METRICS["meif"] == ["EN", "SD", "SF", "VIF", "Q_CB", "Q_NCIE"]
    for names in PAPER_METRICS.values():
        assert set(names) <= set(METRICS)


def test_compute_metrics_defaults_and_names(triple):
    a, b, f = triple
    res = compute_metrics(a, b, f)
    assert list(res) == list(DEFAULT_METRICS) and "MEF-SSIM" not in res
    assert all(isinstance(v, float) and math.isfinite(v) for v in res.values())
    assert res["EN"] == en(a, b, f)
    sub = compute_metrics(a.astype(np.uint8), b.astype(np.uint8), f.astype(np.uint8), ["MEF-SSIM", "PSNR"])
    assert list(sub) == ["MEF-SSIM", "PSNR"] and sub["MEF-SSIM"] == mef_ssim(a, b, f)
    with pytest.raises(KeyError):
        compute_metrics(a, b, f, ["nope"])


def test_shape_checks(triple):
    a, b, f = triple
    with pytest.raises(InputError):
        en(a, b, f[:-1])
    with pytest.raises(InputError):
        ssim(a[..., None], b[..., None], f[..., None])


# --- identities ----------------------------------------------------------------------------------


def test_identical_images_ssim_is_one():
    x = textured()
    assert ssim(x, x, x) == pytest.approx(1.0, abs=1e-12)


def test_identical_sources_mef_ssim_is_nearly_one():
    x = textured(128, 128)
    # Both sources equal the fused image: only the 0.001 stabiliser keeps it from exactly 1.
    assert mef_ssim(x, x, x) == pytest.approx(1.0, abs=1e-4)


def test_constant_image_statistics():
    c = np.full((32, 40), 77.0)
    assert en(c, c, c) == 0.0
    assert sd(c, c, c) == 0.0
    assert sf(c, c, c) == 0.0
    assert ag(c, c, c) == 0.0


def test_entropy_two_equiprobable_levels_is_one_bit():
    f = np.zeros((16, 16))
    f[:, 8:] = 200
    assert en(f, f, f) == pytest.approx(1.0, abs=1e-15)


def test_sd_is_population_std():
    f = np.tile([0.0, 255.0], (10, 5))
    assert sd(f, f, f) == pytest.approx(127.5)


def test_psnr_identical_is_inf():
    x = textured()
    assert psnr(x, x, x) == math.inf


def test_mi_properties(triple):
    a, b, f = triple
    # MI(A,F) + MI(B,F) is symmetric in the sources.
    assert mi(a, b, f) == pytest.approx(mi(b, a, f), rel=1e-12)
    # MI(A,A) = H(A); with F = A, mi(a, b, a) = H(A) + MI(B,A) and mi(b, b, a) = 2 MI(B,A).
    h_a = en(a, a, a)
    assert mi(a, a, a) == pytest.approx(2 * h_a, rel=1e-12)
    assert mi(a, b, a) == pytest.approx(h_a + mi(b, b, a) / 2, rel=1e-12)
    # MI(X,F) <= H(F).
    assert 0 <= mi(a, b, f) <= 2 * en(a, b, f) + 1e-12


def test_source_swap_symmetry(triple):
    a, b, f = triple
    for name in ["EN", "SD", "SF", "AG", "SCD", "SSIM", "Qabf", "MI", "Q_CB", "Q_NCIE", "MEF-SSIM"]:
        func = METRICS[name].func
        assert func(a, b, f) == pytest.approx(func(b, a, f), rel=1e-10, abs=1e-12), name


def test_q_ncie_range(triple):
    a, b, f = triple
    assert 0.0 <= q_ncie(a, b, f) <= 1.0
    # Three copies of an image using all 256 levels equally often: every NCC is 1, the correlation
    # matrix has eigenvalues (3, 0, 0) and NCIE = 1 + log_256(1) = 1.
    x = np.random.default_rng(7).permutation(np.repeat(np.arange(256.0), 16)).reshape(64, 64)
    assert q_ncie(x, x, x) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_skimage(triple):
    skm = pytest.importorskip("skimage.metrics")
    a, b, f = triple
    kw = dict(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    expected = 0.5 * (skm.structural_similarity(f, a, **kw) + skm.structural_similarity(f, b, **kw))
    assert ssim(a, b, f) == pytest.approx(expected, rel=1e-12)


# --- helpers -------------------------------------------------------------------------------------


def test_matlab_round_half_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994, 2.4, -2.6])
    assert matlab_round(x).tolist() == [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 0.0, 2.0, -3.0]


def test_normalize1_stretch_and_rounding():
    x = np.array([[10.0, 11.0, 12.0]])
    assert normalize1(x).tolist() == [[0.0, 128.0, 255.0]]  # 127.5 rounds up
    assert normalize1(np.zeros((2, 2))).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_to_gray255_scaling():
    u8 = np.array([[0, 128, 255]], dtype=np.uint8)
    assert to_gray255(u8).tolist() == [[0.0, 128.0, 255.0]]
    assert to_gray255(u8).dtype == np.float64
    u16 = np.array([[0, 257, 65535]], dtype=np.uint16)
    assert to_gray255(u16).tolist() == [[0.0, 1.0, 255.0]]
    fl = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert to_gray255(fl) == pytest.approx(np.array([[0.0, 127.5, 255.0]]))
    already = np.array([[0.0, 100.0, 255.0]])
    assert to_gray255(already).tolist() == [[0.0, 100.0, 255.0]]


def test_to_gray255_rgb_luminance():
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 0, 0] = rgb[0, 1, 1] = rgb[0, 2, 2] = 255
    y = to_gray255(rgb)
    assert y.shape == (1, 3)
    assert y[0] == pytest.approx([0.299 * 255, 0.587 * 255, 0.114 * 255])
    grey = np.full((2, 2, 3), 0.25, dtype=np.float64)
    assert to_gray255(grey) == pytest.approx(np.full((2, 2), 63.75))
    with pytest.raises(InputError):
        to_gray255(np.zeros((2, 2, 5)))


# --- MEF-SSIM: vectorised form against a direct per-patch evaluation ------------------------------


def _mef_ssim_patchwise(seq, f, k=0.03):
    """Straightforward per-patch evaluation of Ma et al.'s single-scale MEF-SSIM (slow, for tests)."""
    wsize, bd = 11, 5
    g = np.exp(-((np.arange(wsize) - bd) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g)
    win /= win.sum()
    eps = np.finfo(float).eps
    c = (k * 255) ** 2
    h, w = f.shape
    q = []
    for i in range(bd, h - bd):
        for j in range(bd, w - bd):
            blocks = [x[i - bd : i + bd + 1, j - bd : j + bd + 1] for x in seq]
            mus = [blk.mean() for blk in blocks]
            dists = [np.linalg.norm(blk - m) for blk, m in zip(blocks, mus)]
            eds = [d + 0.001 for d in dists]
            s = sum(blocks)
            r = (np.linalg.norm(s - s.mean()) + eps) / (sum(dists) + eps)
            r = min(max(r, eps), 1 - eps)
            p = min(math.tan(math.pi / 2 * r), 10.0)
            wts = np.array([(e / wsize) ** p + eps for e in eds])
            wts /= wts.sum()
            rb = sum(wk * (blk - m) / e for wk, blk, m, e in zip(wts, blocks, mus, eds))
            if np.linalg.norm(rb) > 0:
                rb = rb / np.linalg.norm(rb) * max(eds)
            fb = f[i - bd : i + bd + 1, j - bd : j + bd + 1]
            m1, m2 = np.sum(win * rb), np.sum(win * fb)
            s1 = np.sum(win * (rb - m1) ** 2)
            s2 = np.sum(win * (fb - m2) ** 2)
            s12 = np.sum(win * (rb - m1) * (fb - m2))
            q.append((2 * s12 + c) / (s1 + s2 + c))
    return float(np.mean(q))


def test_mef_ssim_vectorised_equals_patchwise():
    a = textured(24, 30, seed=5)
    b = np.clip(a * 0.5 + textured(24, 30, seed=6) * 0.5, 0, 255)
    a[:12, :14] = 255.0  # a saturated (flat) area, as in over-exposed sources
    f = np.clip(0.6 * a + 0.4 * b + 3, 0, 255)
    got = mef_ssim_single_scale([a, b], f)
    assert got == pytest.approx(_mef_ssim_patchwise([a, b], f), rel=1e-9)


@pytest.mark.parametrize("case", ["zeros", "constant", "flat_source", "black_fused"])
def test_degenerate_inputs_give_finite_values_without_warnings(case):
    rng = np.random.default_rng(11)
    noise = rng.integers(0, 256, (64, 64)).astype(np.float64)
    other = rng.integers(0, 256, (64, 64)).astype(np.float64)
    a, b, f = {
        "zeros": (np.zeros((64, 64)),) * 3,
        "constant": (np.full((64, 64), 100.0),) * 3,
        "flat_source": (np.full((64, 64), 255.0), noise, other),
        "black_fused": (noise, other, np.zeros((64, 64))),
    }[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = compute_metrics(a, b, f, [*METRICS, *EXTRA_METRICS])
    for name, value in res.items():
        if name == "PSNR" and case in ("zeros", "constant"):
            assert value == math.inf
        else:
            assert math.isfinite(value), name
