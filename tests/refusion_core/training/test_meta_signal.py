"""The diagnostic of P's meta-learning signal (refusion_core/training/meta_signal.py) on synthetic batches whose
right answer is known: the signal and the update must point to the sharp source."""

import numpy as np
import pytest
import torch

from refusion_core.models.checkpoint import new_bundle
from refusion_core.training.losses import sobel_magnitude
from refusion_core.training.meta_signal import SyntheticSource, signal_report, train_p_only
from refusion_core.models import LossProposalNet

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def images():
    from skimage import data
    return [data.camera().astype(np.float32) / 255, data.moon().astype(np.float32) / 255,
            data.text().astype(np.float32) / 255]


def test_synthetic_regions_are_where_each_source_is_sharp(images):
    sb = SyntheticSource("mfif", images, 48, seed=3).batch(6)
    ga, gb = sobel_magnitude(sb.batch.ia), sobel_magnitude(sb.batch.ib)
    assert not (sb.good_a & sb.good_b).any() and sb.good_a.any() and sb.good_b.any()
    assert float(ga[sb.good_a].mean()) > 1.5 * float(gb[sb.good_a].mean())
    assert float(gb[sb.good_b].mean()) > 1.5 * float(ga[sb.good_b].mean())
    ex = SyntheticSource("meif", images, 48, seed=3).batch(6)
    assert float(ex.batch.ib[ex.good_a].min()) > 0.97  # B blown where A is the right source
    assert float(ex.batch.ia[ex.good_b].max()) < 0.03  # A crushed where B is
    with pytest.raises(ValueError):
        SyntheticSource("ivif", images, 48)


def test_the_per_pixel_signal_of_v_points_to_the_sharp_source(images):
    torch.manual_seed(0)
    b = new_bundle("mfif", seed=0)
    stats = signal_report(b.fusion, b.reconstruction, None, SyntheticSource("mfif", images, 48, seed=0), draws=12,
                          batch=2)
    va_a, va_b = stats["v_good_a"], stats["v_good_b"]
    assert va_a.mean < 0 < va_b.mean  # gradient descent raises va where A is sharp, vb where B is
    assert len(va_a.values) == len(va_b.values) == 12
    contrast = np.array(va_b.values) - np.array(va_a.values)
    assert contrast.mean() / (contrast.std(ddof=1) / np.sqrt(len(contrast))) > 3  # out of the noise


def test_adam_on_the_swap_equivariant_p_moves_v_toward_the_sharp_source(repo_module):
    """With the four-logit P (refusion-p-1) the same 30 steps moved v toward B everywhere (va over A's sharp
    regions 0.25, vb over B's 0.76; docs/BENCHMARKS.md)."""
    images = repo_module("scripts", "diagnose_meta").sample_images()
    b = new_bundle("mfif", seed=0)
    torch.manual_seed(0)
    src = SyntheticSource("mfif", images, 48, seed=0)
    evals = [src.batch(4) for _ in range(2)]
    records = train_p_only(b.fusion, b.reconstruction, LossProposalNet(prior=False), src, steps=30, batch=2, lr=3e-3,
                           eval_batches=evals)
    first, last = records[0], records[-1]
    assert first["va_good_a"] == pytest.approx(0.5) and first["vb_good_b"] == pytest.approx(0.5)
    assert last["va_good_a"] > 0.53 and last["vb_good_b"] > 0.53
    assert abs(last["wa"] - 0.5) < 0.05  # no content-free preference for either input


def test_the_feature_prior_learns_the_focus_map_in_a_third_of_the_steps(repo_module):
    """P refusion-p-3 sums the same signal over every pixel into its six prior gains: 10 steps take v further
    toward the sharp source than 30 steps take p-2 (measured: 0.67 / 0.65 against p-2's 0.59 / 0.59)."""
    images = repo_module("scripts", "diagnose_meta").sample_images()
    b = new_bundle("mfif", seed=0)
    torch.manual_seed(0)
    src = SyntheticSource("mfif", images, 48, seed=0)
    evals = [src.batch(4) for _ in range(2)]
    records = train_p_only(b.fusion, b.reconstruction, LossProposalNet(), src, steps=10, batch=2, lr=3e-3,
                           eval_batches=evals)
    last = records[-1]
    assert last["va_good_a"] > 0.6 and last["vb_good_b"] > 0.6
    assert abs(last["wa"] - 0.5) < 0.05


def test_the_script_prints_the_signal_and_the_p_update(repo_module, capsys):
    diagnose = repo_module("scripts", "diagnose_meta")
    assert diagnose.main(["--task", "meif", "--crop", "32", "--batch", "2", "--draws", "2", "--train-p", "1",
                          "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "v_good_a" in out and "w_good_b" in out and "step    1" in out
