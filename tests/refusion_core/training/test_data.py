"""CropSampler's augmentations: darkening (TrainSettings.darken), crushing (crush), the order of the sources (swap),
the contrast stretch (stretch), one source twice (same)."""

import numpy as np
import pytest
import torch

from refusion_core.training.data import DARKEN_MIN, CropSampler
from refusion_core.training.settings import TrainSettings


def flat_pairs():
    return [(np.full((48, 48), 0.8, np.float32), np.full((48, 48), 0.4, np.float32))]


def test_darkening_scales_both_sources_by_one_factor():
    a, b = CropSampler(flat_pairs(), 32, seed=3, darken=1.0).batch(64)
    k = a.amax(dim=(1, 2, 3)) / 0.8
    assert torch.allclose(b.amax(dim=(1, 2, 3)), 0.4 * k, atol=1e-6)  # the same factor for A and B
    assert float(k.min()) >= DARKEN_MIN - 1e-6 and float(k.max()) <= 1.0
    assert float(k.min()) < 0.2 and float(k.max()) > 0.5  # spread over the range, not one value


def test_darken_half_leaves_about_half_the_crops_as_they_are():
    a, _ = CropSampler(flat_pairs(), 32, seed=4, darken=0.5).batch(200)
    untouched = float((a.amax(dim=(1, 2, 3)) == 0.8).float().mean())
    assert 0.35 < untouched < 0.65


def test_no_darkening_by_default():
    a, b = CropSampler(flat_pairs(), 32, seed=5).batch(32)
    assert (a == 0.8).all() and (b == 0.4).all()


def test_darken_must_be_a_probability():
    with pytest.raises(ValueError, match="probability"):
        TrainSettings(darken=1.5)
    with pytest.raises(ValueError, match="probability"):
        CropSampler(flat_pairs(), 32, darken=-0.1)
    assert TrainSettings.from_dict(TrainSettings(darken=0.25).to_dict()).darken == 0.25


def test_crushing_sets_a_common_black_level_of_darkened_crops():
    from refusion_core.training.data import CRUSH_MAX
    ramp = np.tile(np.linspace(0.0, 1.0, 48, dtype=np.float32), (48, 1))
    a, b = CropSampler([(ramp, ramp * 0.5)], 48, seed=6, darken=1.0, crush=1.0).batch(32)
    zeros_a, zeros_b = (a == 0).float().mean(dim=(1, 2, 3)), (b == 0).float().mean(dim=(1, 2, 3))
    assert float(zeros_a.mean()) > 0.05  # the ramp's dark end is crushed to exactly 0 ...
    assert (zeros_b >= zeros_a).all()  # ... the same black level in B, whose values are half of A's
    assert float(zeros_a.max()) <= CRUSH_MAX + 0.03  # never more than CRUSH_MAX of the darkened white
    a0, _ = CropSampler([(ramp, ramp * 0.5)], 48, seed=6, darken=1.0).batch(32)
    assert float((a0 == 0).float().mean()) < 0.03  # without crush: only the ramp's own first column


def test_swap_gives_pairs_in_either_order_and_draws_nothing_when_off():
    a_img = np.full((48, 48), 0.25, dtype=np.float32)
    b_img = np.full((48, 48), 0.75, dtype=np.float32)
    a, b = CropSampler([(a_img, b_img)], 32, seed=7, swap=0.5).batch(200)
    first_is_b = (a.mean(dim=(1, 2, 3)) > 0.5).float()
    assert 0.3 < float(first_is_b.mean()) < 0.7  # about half the pairs come as (B, A) ...
    torch.testing.assert_close(a + b, torch.ones_like(a))  # ... each one whole: A with B, never A with A
    ramp = np.tile(np.linspace(0.0, 1.0, 48, dtype=np.float32), (48, 1))
    plain, off = CropSampler([(ramp, ramp * 0.5)], 32, seed=8), CropSampler([(ramp, ramp * 0.5)], 32, seed=8, swap=0.0)
    torch.testing.assert_close(plain.batch(16), off.batch(16))  # swap=0: the same crops as before the option
    with pytest.raises(ValueError, match="swap"):
        CropSampler([(ramp, ramp)], 32, swap=1.5)


def test_same_gives_one_source_twice_and_draws_nothing_when_off():
    a_img = np.full((48, 48), 0.25, dtype=np.float32)
    b_img = np.full((48, 48), 0.75, dtype=np.float32)
    a, b = CropSampler([(a_img, b_img)], 32, seed=9, same=0.5).batch(400)
    twice = (a == b).all(dim=3).all(dim=2).all(dim=1)
    assert 0.4 < float(twice.float().mean()) < 0.6  # about half the pairs are one source twice ...
    first = a[twice].mean(dim=(1, 2, 3))
    assert 0.3 < float((first > 0.5).float().mean()) < 0.7  # ... B as often as A ...
    torch.testing.assert_close(a[~twice] + b[~twice], torch.ones_like(a[~twice]))  # ... the rest whole pairs
    ramp = np.tile(np.linspace(0.0, 1.0, 48, dtype=np.float32), (48, 1))
    plain, off = CropSampler([(ramp, ramp * 0.5)], 32, seed=8), CropSampler([(ramp, ramp * 0.5)], 32, seed=8, same=0.0)
    torch.testing.assert_close(plain.batch(16), off.batch(16))  # same=0: the same crops as before the option
    with pytest.raises(ValueError, match="same"):
        TrainSettings(same=-0.1)


def test_stretch_maps_both_sources_to_the_full_range_with_one_map():
    from refusion_core.training.data import STRETCH_CLIP
    ramp = np.tile(np.linspace(0.3, 0.7, 64, dtype=np.float32), (64, 1))
    a_img, b_img = ramp, 0.3 + 0.5 * (ramp - 0.3)  # B's range is a part of A's
    a, b = CropSampler([(a_img, b_img)], 48, seed=9, stretch=1.0).batch(64)
    assert float(a.min()) == 0.0 and float(a.max()) == 1.0  # each crop pair reaches black and white ...
    for x, y in zip(a, b):
        both = torch.cat([x.ravel(), y.ravel()])
        assert float((both == 0).float().mean()) <= STRETCH_CLIP + 0.01  # ... clipping at most STRETCH_CLIP per end
        assert float((both == 1).float().mean()) <= STRETCH_CLIP + 0.01
        inside = (x > 0) & (x < 1) & (y > 0) & (y < 1)
        # one increasing affine map for both sources: where neither clips, B keeps half A's slope from A's level
        xa, yb = x[inside], y[inside]
        torch.testing.assert_close(yb - yb.min(), 0.5 * (xa - xa.min()), atol=1e-3, rtol=0)


def test_stretch_leaves_flat_pairs_alone_and_draws_nothing_when_off():
    flat = np.full((40, 40), 0.4, np.float32)
    a, b = CropSampler([(flat, flat)], 32, seed=10, stretch=1.0).batch(8)
    assert torch.all(a == 0.4) and torch.all(b == 0.4)
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    off = CropSampler([(ramp, ramp * 0.5)], 32, seed=8, stretch=0.0)
    torch.testing.assert_close(off.batch(16), CropSampler([(ramp, ramp * 0.5)], 32, seed=8).batch(16))
    with pytest.raises(ValueError, match="stretch"):
        TrainSettings(stretch=2.0)
    assert TrainSettings.from_dict(TrainSettings(stretch=0.5).to_dict()).stretch == 0.5
