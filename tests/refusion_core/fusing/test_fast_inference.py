"""Fuser's fast path against the plain modules: same images, same maps; schedules, progress, half precision."""

import numpy as np
import pytest
import torch

from refusion_core.fusing import fuser as inference
from refusion_core.fusing.fuser import Fuser
from refusion_core.fusing.tiling import TilePlan
from refusion_core.models import LossProposalNet
from refusion_core.models.checkpoint import new_bundle

SMALL = TilePlan(16, 40, 2)


def perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Layer-norm affines and temperatures away from 1/0, so that mishandling them would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "temperature" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return module.eval()


@pytest.fixture(scope="module")
def bundle():
    b = new_bundle("ivif", seed=0)
    torch.manual_seed(1)
    b.fusion, b.proposal = perturbed(b.fusion, 0), perturbed(LossProposalNet(zero_init=False), 1)
    with torch.no_grad():  # P refusion-p-3: its prior, zero when new, set so that the maps depend on it
        b.proposal.prior.copy_(0.05 * torch.randn(2, 3, generator=torch.Generator().manual_seed(2)))
    return b


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (64, 96), dtype=np.uint8), rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def reference(bundle, pair):
    return Fuser(bundle, "cpu", engine="reference").fuse(*pair)


def assert_same(res, ref, atol=1e-5):
    np.testing.assert_allclose(res.fused_y, ref.fused_y, atol=atol, rtol=0)
    assert set(res.maps) == set(ref.maps) == {"wa", "wb", "va", "vb"}
    for k in ref.maps:
        np.testing.assert_allclose(res.maps[k], ref.maps[k], atol=atol, rtol=0)


@pytest.mark.parametrize("budget", [inference.STREAM_BUDGET, 0], ids=["checkpoint", "recompute"])
def test_fast_fuser_equals_the_reference(bundle, pair, reference, budget):
    fuser = Fuser(bundle, "cpu", plan=SMALL, stream_budget=budget)
    assert fuser.schedule(64, 96) == ("recompute" if budget == 0 else "checkpoint")
    res = fuser.fuse(*pair)
    assert_same(res, reference)
    assert res.fused.shape == (64, 96, 3) and res.fused.dtype == np.uint8
    assert np.abs(res.fused.astype(int) - reference.fused.astype(int)).max() <= 1  # rounding of Y only


def test_the_prior_by_strips_equals_the_whole_image_one(bundle, pair):
    """P refusion-p-3's prior logits, strip by strip with their halo, are the whole-image ones bit for bit."""
    from refusion_core.fusing.fast import prior_logits
    from refusion_core.models.blocks import sobel_magnitude

    y = torch.from_numpy(pair[0].astype(np.float32) / 255)
    with torch.no_grad():
        whole = bundle.proposal.prior_logits(y[None, None], sobel_magnitude(y[None, None]))[0]
        assert float(whole.abs().max()) > 0.1
        for rows in (7, 16, 64):
            assert torch.equal(prior_logits(bundle.proposal, y, rows=rows), whole)


def test_progress_reaches_the_total_in_steps(bundle, pair):
    seen = []
    Fuser(bundle, "cpu", plan=SMALL).fuse(*pair, progress=lambda d, t: seen.append((d, t)))
    total = (6 + 2 + 2) * 4  # F's stages, P's on [A, B] and on [B, A] (swap-equivariant P), × 4 strips of 16 rows
    assert seen == [(d, total) for d in range(1, total + 1)]


def test_large_images_switch_to_the_memory_lean_schedule(bundle):
    fuser = Fuser(bundle, "cpu")
    assert fuser.schedule(1024, 1024) == "checkpoint"
    assert fuser.schedule(4000, 6000) == "recompute"  # its stream alone would be about 3 GB


def test_colour_conversion_by_strips_equals_the_whole_image_one(pair, reference, monkeypatch):
    from refusion_core.fusing import colour
    from refusion_core.fusing.colour import fuse_chroma, merge_ycrcb, split_ycrcb
    from refusion_core.io.images import from_float, to_float

    monkeypatch.setattr(colour, "COLOUR_ROWS", 7)
    (a, b), y = pair, reference.fused_y
    whole = from_float(merge_ycrcb(y, fuse_chroma(split_ycrcb(to_float(a))[1], split_ycrcb(to_float(b))[1])))
    np.testing.assert_array_equal(colour.recolour([a, b], y), whole)
    np.testing.assert_array_equal(colour.luminance(b), split_ycrcb(to_float(b))[0])


def test_options_are_checked(bundle):
    with pytest.raises(ValueError, match="engine"):
        Fuser(bundle, "cpu", engine="onnx")
    with pytest.raises(ValueError, match="precision"):
        Fuser(bundle, "cpu", precision="fp8")


def test_bf16_autocast_path_runs_on_the_cpu(bundle, pair, reference):
    # the code path GPUs take with fp16/bf16; on the CPU bf16 is slow but checks the path end to end
    res = Fuser(bundle, "cpu", plan=SMALL, precision="bf16").fuse(*pair)
    assert_same(res, reference, atol=5e-2)
    assert np.abs(res.fused_y - reference.fused_y).max() > 1e-6  # it really ran in bf16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision, atol", [("fp32", 1e-4), ("fp16", 1e-2), ("bf16", 5e-2)])
def test_cuda_fast_path_agrees_with_the_cpu_reference(bundle, pair, reference, precision, atol):
    import copy

    res = Fuser(copy.deepcopy(bundle), "cuda", precision=precision).fuse(*pair)
    assert_same(res, reference, atol=atol)
