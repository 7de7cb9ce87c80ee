"""meta_gradient_hvp computes the same meta-gradient as meta_gradient (float64), and plugs into meta_step."""

import copy

import pytest
import torch

from refusion_core.training.meta import Batch, meta_gradient, meta_gradient_hvp, meta_step
from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet

INNER_LR = 0.5  # large, so that the second-order term is far above float64 round-off


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """8×8 images: threads only add synchronisation (which a shared CPU makes slow)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(seed: int):
    torch.manual_seed(seed)
    f, r, p = FusionNet(8, 2), ReconstructionNet(8, 2), LossProposalNet(8, 2, zero_init=False)
    return [m.double() for m in (f, r, p)]


def batches(seed: int, n: int = 2, size: int = 8):
    g = torch.Generator().manual_seed(seed)
    mk = lambda: Batch(*(torch.rand(n, 1, size, size, generator=g, dtype=torch.float64) for _ in range(2)))  # noqa: E731
    return mk(), mk()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("reduce", ["max", "sum"])
def test_hvp_meta_gradient_equals_the_second_order_one(seed, reduce):
    f, r, p = tiny(seed)
    train, test = batches(seed + 10)
    ref, ref_losses = meta_gradient(f, r, p, train, test, INNER_LR, 1.0, 0.7, reduce)
    got, losses = meta_gradient_hvp(f, r, p, train, test, INNER_LR, 1.0, 0.7, reduce)
    assert got.keys() == ref.keys()
    scale = max(float(g.abs().max()) for g in ref.values())
    assert scale > 1e-9  # a real second-order signal
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-9, atol=1e-12 * scale)
    assert losses == pytest.approx(ref_losses, rel=1e-12)


def test_first_order_gives_zero_as_before():
    f, r, p = tiny(0)
    train, test = batches(3)
    grads, _ = meta_gradient_hvp(f, r, p, train, test, INNER_LR, first_order=True)
    assert all(float(g.abs().max()) == 0 for g in grads.values())


def test_meta_step_takes_either_gradient_to_the_same_p():
    f, r, p = tiny(2)
    train, test = batches(4)
    q = copy.deepcopy(p)
    meta_step(f, r, p, torch.optim.Adam(p.parameters(), lr=1e-2), train, test, INNER_LR)
    meta_step(f, r, q, torch.optim.Adam(q.parameters(), lr=1e-2), train, test, INNER_LR,
              gradient=meta_gradient_hvp)
    for (name, a), b in zip(p.named_parameters(), q.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15, msg=name)
    assert all(t.grad is None for t in list(f.parameters()) + list(r.parameters()))
