"""Exact tile-wise evaluation: both schedules equal the whole-image modules, whatever the cut."""

import pytest
import torch

from refusion_core.fusing.fast import fusion_stages, proposal_stages, symmetric_maps
from refusion_core.fusing.tiling import Ticker, TilePlan, evaluate, job_count, stream_bytes
from refusion_core.models import FusionNet, LossProposalNet

H, W = 64, 96


def perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Layer-norm affines and temperatures away from 1/0, so that folding them wrongly would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "temperature" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    return module.eval()


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return perturbed(FusionNet()), perturbed(LossProposalNet(zero_init=False), 1)


@pytest.fixture(scope="module")
def image():
    x = torch.rand(1, 2, H, W, generator=torch.Generator().manual_seed(2))
    return x, x.permute(0, 2, 3, 1).contiguous()  # NCHW for the modules, NHWC for the tiles


def run(stages, xn, c_out, c_stream, plan, mode, ticker=None):
    out = torch.full((c_out, H, W), float("nan"))
    with torch.inference_mode():
        return evaluate(stages, xn, out, plan, mode, ticker, c_stream)


# rows=4 is below F's widest halo (5): a strip then reads rows saved from two strips away
PLANS = [TilePlan(8, 32, 2), TilePlan(13, 40, 2), TilePlan(4, 1000, 2), TilePlan(64, 96, 1)]


@pytest.mark.parametrize("mode", ["checkpoint", "recompute"])
@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"{p.rows}x{p.cols}w{p.workers}")
def test_fusion_equals_the_whole_image_module(nets, image, mode, plan):
    f, _ = nets
    x, xn = image
    with torch.inference_mode():
        ref = f(x)[0]
    out = run(fusion_stages(f), xn, 1, 2 * f.dim, plan, mode)
    assert torch.isfinite(out).all()  # every pixel written
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=0)


@pytest.mark.parametrize("mode", ["checkpoint", "recompute"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_proposal_equals_the_whole_image_module(nets, image, mode, symmetric):
    _, p = nets
    if not symmetric:
        torch.manual_seed(0)
        p = perturbed(LossProposalNet(zero_init=False, symmetric=False), seed=1)
    x, xn = image
    with torch.inference_mode():
        ref = p(x[:, :1], x[:, 1:])[0]
    if symmetric:  # the stages give the logits of one order of the sources; both orders make the maps
        out = symmetric_maps(*(run(proposal_stages(p), src, 2, p.dim, TilePlan(7, 24, 2), mode)
                               for src in (xn, xn.flip(-1))))
    else:
        out = run(proposal_stages(p), xn, 4, p.dim, TilePlan(7, 24, 2), mode)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=0)
    assert float((ref[0] - 0.5).abs().max()) > 1e-3  # the maps are not trivially 1/2


def test_threads_give_the_same_bits_and_leave_the_thread_setting(nets, image):
    f, _ = nets
    threads = torch.get_num_threads()
    # The workers run one intra-op thread each; the single-worker run gets the same, because oneDNN's kernels may
    # split a reduction differently with 2 intra-op threads (it does on AVX-512 machines: ~1e-7 apart), which is
    # not what this test is about.
    torch.set_num_threads(1)
    try:
        one = run(fusion_stages(f), image[1], 1, 32, TilePlan(8, 32, 1), "checkpoint")
    finally:
        torch.set_num_threads(threads)
    two = run(fusion_stages(f), image[1], 1, 32, TilePlan(8, 32, 2), "checkpoint")
    assert torch.equal(one, two)  # partial sums are added in strip order, not finishing order
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("mode", ["checkpoint", "recompute"])
def test_progress_counts_every_strip_of_every_stage(nets, image, mode):
    f, _ = nets
    plan, stages = TilePlan(10, 50, 2), fusion_stages(f)
    seen = []
    ticker = Ticker(job_count(len(stages), H, plan), lambda d, t: seen.append((d, t)))
    run(stages, image[1], 1, 32, plan, mode, ticker)
    assert [d for d, _ in seen] == list(range(1, 6 * 7 + 1))  # 6 stages × 7 strips, in order
    assert {t for _, t in seen} == {42}


def test_each_stage_declares_the_halo_of_its_steps(nets):
    core = (slice(3, 9), slice(3, 9))
    for stages, width in ((fusion_stages(nets[0]), 32), (proposal_stages(nets[1]), 16)):
        for stage in stages[1:]:  # the stages with attention statistics
            ctx = stage.finish(stage.stats(torch.rand(1, 12, 12, width), core))
            assert sum(h for h, _ in stage.steps(ctx)) == stage.halo


def test_plan_cuts_cover_the_image_once():
    plan = TilePlan(10, 40)
    assert plan.strips(25) == [(0, 10), (10, 20), (20, 25)]
    assert plan.tiles(40) == [(0, 40)]
    # the buffer plus 2·halo saved rows at each of the two inner borders
    assert stream_bytes(25, 40, 32, 5, plan) == 4 * 32 * 40 * (25 + 2 * 5 * 2)


def test_unknown_schedule_is_refused(nets, image):
    with pytest.raises(ValueError, match="checkpoint"):
        run(fusion_stages(nets[0]), image[1], 1, 32, TilePlan(), "tiles")
