"""Stacks of N images: a 4-frame focus stack comes out sharp in every quarter; order, colour, dtype, errors."""

import cv2
import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.fusing.baselines import average, laplacian_pyramid
from refusion_core.fusing.colour import fuse_chroma, split_ycrcb
from refusion_core.fusing.stack import fuse_luminance_stack, fuse_stack
from refusion_core.paths import default_weights_path
from refusion_core.training.synthetic import focus_stack, focus_stack_kept, quarter_energy

data = pytest.importorskip("skimage.data")
SHARP_FRACTION = 0.9


def astronaut(size: int) -> np.ndarray:
    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return img.astype(np.float32) / 255


def stack_frames(size: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The 4-frame focus stack (RGB), its luminances, and the sharpest frame's gradient energy per quarter."""
    frames = focus_stack(astronaut(size), n=4, sigma=3.0)
    ys = [split_ycrcb(f)[0] for f in frames]
    return frames, ys, np.max([quarter_energy(y) for y in ys], axis=0)


def sharpness_ratios(fuser, size: int) -> np.ndarray:
    """Each quarter's gradient energy in the fused result over the sharpest frame's there."""
    return focus_stack_kept(fuser, astronaut(size))


def test_focus_stack_with_classical_oracle():
    ratios = sharpness_ratios(laplacian_pyramid, 256)
    assert np.all(ratios >= SHARP_FRACTION), ratios


def pair_ratios(fuser, size: int) -> np.ndarray:
    """The same measure for one 2-frame multi-focus pair (left/right halves): what F alone keeps."""
    from refusion_core.fusing.stack import as_luminance_fuser
    from refusion_core.training.synthetic import multifocus_pair

    a, b = (split_ycrcb(x)[0] for x in multifocus_pair(astronaut(size)))
    fused = as_luminance_fuser(fuser)(a, b)
    halves = lambda y: quarter_energy(y).reshape(2, 2).mean(0)  # noqa: E731  (left, right)
    return halves(fused) / np.maximum(halves(a), halves(b))


def first_level_ratios(fuser, size: int) -> np.ndarray:
    """What one fusion keeps per quarter: the tree's first level, (1, 2) for quarters 1–2 and (3, 4) for 3–4, over
    the sharpest frame's energy there. The last fusion can at best keep that much again."""
    from refusion_core.fusing.stack import as_luminance_fuser

    fuse = as_luminance_fuser(fuser)
    _, ys, best = stack_frames(size)
    r12, r34 = (quarter_energy(np.clip(fuse(a, b), 0, 1)) / best for a, b in (ys[:2], ys[2:]))
    return np.concatenate([r12[:2], r34[2:]])


def test_focus_stack_with_default_mfif_weights():
    path = default_weights_path("mfif")
    if not path.is_file():
        pytest.skip(f"default MFIF weights not found at {path} (trained separately); the oracle test covers "
                    "the stacking logic")
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model

    fuser = Fuser(load_model(None, "mfif"), "cpu")
    ratios, one = sharpness_ratios(fuser, 128), first_level_ratios(fuser, 128)
    # every quarter goes through two fusions of the 4-frame tree: what F keeps there in one fusion, twice, is what
    # the stacking can be held to. One fusion's loss is measured on the stack's own quarters, not on a pair's
    # halves: it depends on the quarter's content (docs/BENCHMARKS.md, "The stack's fourth quarter")
    assert np.all(ratios >= 0.9 * one ** 2), (ratios, one)
    short = ratios < SHARP_FRACTION
    if np.any(short) and np.all(one[short] ** 2 < SHARP_FRACTION):
        pytest.xfail(f"the default MFIF model keeps {', '.join(f'{r:.1%}' for r in one[short])} of the sharp "
                     f"frame's gradient energy in one fusion where the stack falls short of {SHARP_FRACTION:.0%} "
                     f"(quarters after one fusion: {', '.join(f'{r:.2f}' for r in one)}; after two: "
                     f"{', '.join(f'{r:.2f}' for r in ratios)}), and two levels compound it; a model limit, not a "
                     f"stacking one")
    assert np.all(ratios >= SHARP_FRACTION), ratios


def test_focus_stack_with_the_released_mfif_checkpoint(anchors_dir):
    """The authors' F keeps ~80 % of the sharp frame's gradient energy on one pair (so the 90 % criterion is
    out of reach of any stacking of it); the tree costs no more than its log2(4) = 2 levels of that."""
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model

    fuser = Fuser(load_model(anchors_dir / "ReFusion_MFIF.pth", "mfif"), "cpu")
    ratios, pair = sharpness_ratios(fuser, 128), pair_ratios(fuser, 128)
    assert 0.5 < pair.min() < SHARP_FRACTION, pair  # what F does on a pair: its limit, not the stack's
    assert np.all(ratios >= 0.9 * pair.min() ** 2), (ratios, pair)  # every quarter survives two fusions


def test_tree_order_and_progress():
    calls, ticks = [], []

    def record(a, b):
        calls.append((float(a[0, 0]), float(b[0, 0])))
        return (a + b) / 2

    ys = [np.full((4, 4), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    out = fuse_luminance_stack(record, ys, "tree", progress=lambda d, t: ticks.append((d, t)))
    np.testing.assert_allclose(calls[:2], [(0.1, 0.2), (0.3, 0.4)])
    assert len(calls) == 4 and ticks[-1] == (4, 4)
    assert out[0, 0] == pytest.approx(((0.15 + 0.35) / 2 + 0.5) / 2)
    calls.clear()
    fuse_luminance_stack(record, ys[:3], "chain")
    assert calls[1][1] == pytest.approx(0.3)


def test_two_images_match_a_single_pair_fusion():
    a, b = (np.random.default_rng(i).random((16, 16)).astype(np.float32) for i in range(2))
    np.testing.assert_array_equal(fuse_stack(average, [a, b]).fused_y, average(a, b))


def test_colour_dtype_and_chroma():
    grey = (np.random.default_rng(0).random((8, 8)) * 65535).astype(np.uint16)
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    res = fuse_stack(average, [grey, red, grey])
    assert res.fused.dtype == np.uint16 and res.fused.shape == (8, 8, 3)
    assert fuse_stack(average, [grey, grey]).fused.ndim == 2
    c1, c2 = np.full((2, 2, 2), 128.0), np.full((2, 2, 2), 168.0)
    np.testing.assert_allclose(fuse_chroma(c1, c2, None), c2)  # a neutral source has weight 0
    c3 = np.full((2, 2, 2), 108.0)
    np.testing.assert_allclose(fuse_chroma(c2, c3), (168 * 40 + 108 * 20) / 60)
    assert fuse_chroma(None, None) is None


def test_errors():
    a = np.zeros((8, 8), np.uint8)
    with pytest.raises(InputError, match="at least 2"):
        fuse_stack(average, [a])
    with pytest.raises(InputError, match="x.png is 8×8 but y.png is 9×8"):
        fuse_stack(average, [a, np.zeros((8, 9), np.uint8)], names=["x.png", "y.png"])
    with pytest.raises(InputError, match="Unknown stack strategy"):
        fuse_stack(average, [a, a], strategy="star")
