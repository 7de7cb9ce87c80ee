import numpy as np
import pytest
import torch

from refusion_core.errors import InputError
from refusion_core.fusing.colour import TAU, fuse_chroma, merge_ycrcb, split_ycrcb
from refusion_core.fusing.fuser import Fuser
from refusion_core.models.checkpoint import new_bundle


def test_eq15_by_hand():
    c1 = np.array([[[138.0, 128.0]]])  # Cr 10 above tau, Cb neutral
    c2 = np.array([[[98.0, 128.0]]])  # Cr 30 below tau
    out = fuse_chroma(c1, c2)
    assert out[0, 0, 0] == pytest.approx((138 * 10 + 98 * 30) / 40)
    assert out[0, 0, 1] == pytest.approx(TAU)  # 0/0 guarded
    assert fuse_chroma(None, c2) is not None and np.array_equal(fuse_chroma(None, c2), c2)
    assert fuse_chroma(None, None) is None


def test_ycrcb_round_trip():
    rgb = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    y, c = split_ycrcb(rgb)
    np.testing.assert_allclose(y, rgb @ np.array([0.299, 0.587, 0.114], np.float32), atol=1e-5)
    np.testing.assert_allclose(merge_ycrcb(y, c), rgb, atol=1e-3)  # OpenCV's inverse is not exact


@pytest.fixture(scope="module")
def fuser():
    return Fuser(new_bundle("ivif", seed=0), device="cpu")


def test_grey_pair_gives_raw_output_of_f(fuser):
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (20, 24), dtype=np.uint8), rng.integers(0, 256, (20, 24), dtype=np.uint8)
    res = fuser.fuse(a, b)
    assert res.fused.shape == (20, 24) and res.fused.dtype == np.uint8
    x = torch.from_numpy(np.stack([a, b])[None].astype(np.float32) / 255)
    with torch.no_grad():
        raw = fuser.bundle.fusion(x)[0, 0].numpy()
    np.testing.assert_allclose(res.fused_y, raw, atol=1e-6)  # no stretching by default
    np.testing.assert_array_equal(res.fused, np.round(raw * 255).astype(np.uint8))
    assert set(res.maps) == {"wa", "wb", "va", "vb"}
    stretched = fuser.fuse(a, b, stretch=True).fused_y
    assert stretched.min() == pytest.approx(0) and stretched.max() == pytest.approx(1)


def test_grey_plus_colour_keeps_the_colour_sources_chroma(fuser):
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    colour = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    res = fuser.fuse(grey, colour)
    assert res.fused.shape == (16, 16, 3)
    _, c_in = split_ycrcb(colour.astype(np.float32) / 255)
    _, c_out = split_ycrcb(res.fused.astype(np.float32) / 255)
    inside = (res.fused > 3).all(-1) & (res.fused < 252).all(-1)  # away from RGB clipping
    assert np.abs(c_out - c_in)[inside].max() < 2.5


def test_sixteen_bit_in_sixteen_bit_out(fuser):
    a = (np.random.default_rng(3).random((12, 12)) * 65535).astype(np.uint16)
    b = np.random.default_rng(4).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    res = fuser.fuse(a, b)
    assert res.fused.dtype == np.uint16 and res.fused.shape == (12, 12, 3)


def test_sizes_must_match(fuser):
    with pytest.raises(InputError, match="registered"):
        fuser.fuse(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
