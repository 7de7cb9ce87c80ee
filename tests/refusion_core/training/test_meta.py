"""Algorithm 1's meta step: P's second-order gradient, and what each update may and may not change."""

import copy

import pytest
import torch

from refusion_core.training.meta import Batch, fuse_recon_step, meta_gradient, meta_step
from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet

INNER_LR = 0.5  # large, so that the second-order term is far above float64 round-off


def tiny(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    f, r, p = FusionNet(8, 2), ReconstructionNet(8, 2), LossProposalNet(8, 2, zero_init=False)
    for m in (f, r, p):
        m.to(dtype)
    return f, r, p


def batches(dtype=torch.float64, seed=1, n=2, size=8):
    g = torch.Generator().manual_seed(seed)
    mk = lambda: Batch(torch.rand(n, 1, size, size, generator=g, dtype=dtype),
                       torch.rand(n, 1, size, size, generator=g, dtype=dtype))
    return mk(), mk()


def outer_value(f, r, p, train, test):
    return meta_gradient(f, r, p, train, test, INNER_LR)[1]["outer_lr"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_meta_gradient_matches_central_finite_differences(seed):
    f, r, p = tiny(seed=seed)
    train, test = batches(seed=seed + 10)
    grads, _ = meta_gradient(f, r, p, train, test, INNER_LR)
    gen = torch.Generator().manual_seed(seed)
    direction = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in p.named_parameters()}
    analytic = sum(float((grads[k] * d).sum()) for k, d in direction.items())
    eps = 1e-5
    values = []
    for sign in (1, -1):
        q = copy.deepcopy(p)
        with torch.no_grad():
            for k, v in q.named_parameters():
                v += sign * eps * direction[k]
        values.append(outer_value(f, r, q, train, test))
    numeric = (values[0] - values[1]) / (2 * eps)
    assert abs(analytic) > 1e-8
    assert abs(analytic - numeric) / abs(numeric) < 1e-3


def test_first_order_gives_p_no_gradient():
    f, r, p = tiny()
    train, test = batches()
    grads, _ = meta_gradient(f, r, p, train, test, INNER_LR)
    assert any(float(g.abs().max()) > 0 for g in grads.values())
    grads_fo, _ = meta_gradient(f, r, p, train, test, INNER_LR, first_order=True)
    assert all(float(g.abs().max()) == 0 for g in grads_fo.values())


def snapshot(*modules):
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


def changed(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_outer_update_changes_p_and_nothing_else():
    f, r, p = tiny(torch.float32)
    train, test = batches(torch.float32)
    sf, sr, sp = snapshot(f, r, p)
    opt = torch.optim.Adam(p.parameters(), lr=1e-3)
    meta_step(f, r, p, opt, train, test, INNER_LR)
    assert changed(sp, p)
    assert not changed(sf, f) and not changed(sr, r)
    assert all(q.grad is None for q in list(f.parameters()) + list(r.parameters()))


def test_fusion_update_leaves_p_and_reconstruction_update_leaves_f():
    f, r, p = tiny(torch.float32)
    batch, _ = batches(torch.float32)
    sf, sr, sp = snapshot(f, r, p)
    opt_r = torch.optim.Adam(r.parameters(), lr=1e-3)
    # R's update alone (no optimiser for F): F must not move although Lr is computed from If
    fuse_recon_step(f, r, p, None, opt_r, batch)
    assert changed(sr, r) and not changed(sf, f) and not changed(sp, p)
    opt_f = torch.optim.Adam(f.parameters(), lr=1e-3)
    fuse_recon_step(f, r, p, opt_f, opt_r, batch)
    assert changed(sf, f) and not changed(sp, p)


def test_meta_gradient_scales_with_the_inner_step():
    # to first order in η the meta-gradient is linear in η: halving η about halves it
    f, r, p = tiny()
    train, test = batches()
    g1, _ = meta_gradient(f, r, p, train, test, 1e-4)
    g2, _ = meta_gradient(f, r, p, train, test, 2e-4)
    n1 = sum(float(g.norm() ** 2) for g in g1.values()) ** 0.5
    n2 = sum(float(g.norm() ** 2) for g in g2.values()) ** 0.5
    assert n2 / n1 == pytest.approx(2.0, rel=1e-2)


def test_an_all_black_crop_gives_finite_gradients():
    """A fresh F (no conv bias, LayerNorm bias 0) maps an all-black source to all-zero attention queries;
    their norm must not turn the backward or the meta step's second-order pass into NaN."""
    torch.manual_seed(0)
    f, r, p = FusionNet(), ReconstructionNet(), LossProposalNet(zero_init=False)
    other = torch.rand(2, 1, 16, 16)
    black = torch.cat([torch.zeros(1, 1, 16, 16), torch.rand(1, 1, 16, 16)])  # the first crop all black
    fused = f(torch.cat([black, other], dim=1))
    fused.mean().backward()
    assert all(torch.isfinite(q.grad).all() for q in f.parameters())
    grads, losses = meta_gradient(f, r, p, Batch(black, other), Batch(other, black), INNER_LR)
    assert all(torch.isfinite(g).all() for g in grads.values()) and any(g.abs().max() > 0 for g in grads.values())
    assert all(v == v for v in losses.values())  # no NaN loss
