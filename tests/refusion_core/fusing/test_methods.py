"""One notion of a method, one pipeline: models and baselines, pairs and stacks end in the same last step."""

import numpy as np
import pytest

from refusion_core.fusing.baselines import BASELINES
from refusion_core.fusing.colour import fuse_chroma, luminance, merge_ycrcb, recolour, split_ycrcb
from refusion_core.fusing.fuser import Fuser
from refusion_core.fusing.methods import BASELINE_NAMES, baseline_method, model_method
from refusion_core.io.images import from_float, to_float
from refusion_core.models.checkpoint import new_bundle


@pytest.fixture(scope="module")
def rgb_pair():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    b = rng.integers(0, 65536, (40, 56), dtype=np.uint16)  # grey and 16-bit: the output is RGB, 16-bit
    return a, b


def test_a_model_method_gives_the_fusers_image(rgb_pair):
    bundle = new_bundle("ivif", seed=1)
    a, b = rgb_pair
    expected = Fuser(bundle, "cpu").fuse(a, b, maps=False)
    got = model_method(None, "ivif", "cpu", bundle=bundle).fuse([a, b])
    assert got.fused.dtype == np.uint16 and got.fused.shape == (40, 56, 3)
    np.testing.assert_array_equal(got.fused, expected.fused)
    np.testing.assert_allclose(got.fused_y, expected.fused_y, atol=1e-7)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_a_baseline_goes_through_the_same_last_step(rgb_pair, name):
    a, b = rgb_pair
    y = np.clip(BASELINES[name](luminance(a), luminance(b)), 0, 1).astype(np.float32)
    by_hand = from_float(merge_ycrcb(y, fuse_chroma(split_ycrcb(to_float(a))[1], None)), np.uint16)
    res = baseline_method(name).fuse([a, b])
    np.testing.assert_array_equal(res.fused, by_hand)
    np.testing.assert_array_equal(recolour([a, b], res.fused_y), res.fused)


def test_recolour_keeps_grey_and_eight_bits_when_every_source_is():
    a = np.full((8, 8), 10, np.uint8)
    out = recolour([a, a], np.full((8, 8), 0.5, np.float32))
    assert out.shape == (8, 8) and out.dtype == np.uint8 and int(out[0, 0]) == 128


def test_fuse_chroma_of_n_sources_is_eq15_generalised():
    c1, c2, c3 = (np.full((2, 2, 2), v, np.float32) for v in (128.0, 168.0, 108.0))
    np.testing.assert_allclose(fuse_chroma(c2, c3), (168 * 40 + 108 * 20) / 60)
    np.testing.assert_allclose(fuse_chroma(c1, c2, c3), (168 * 40 + 108 * 20) / 60)  # a neutral source: weight 0
    assert fuse_chroma(None, None) is None


def test_methods_say_what_they_are():
    method = baseline_method("laplacian")
    assert method.kind == "baseline" and method.name == "laplacian" and method.info == {"baseline": "laplacian"}
    assert model_method(None, "ivif", "cpu", bundle=new_bundle("ivif", seed=1)).kind == "model"
    with pytest.raises(ValueError, match="Unknown baseline"):
        baseline_method("median")
