"""scripts/probe_fit.py: the fit gap of F against its maps' blend, F fused with itself, F specialised on one pair."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import probe_fit  # noqa: E402

from refusion_core.models.checkpoint import new_bundle  # noqa: E402
from refusion_core.training.losses import fusion_loss  # noqa: E402
from refusion_core.training.synthetic import multifocus_pair  # noqa: E402


def pair(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img = np.clip(0.5 + 0.2 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
    return multifocus_pair(img, sigma=2.0)


def test_the_blend_is_the_intensity_terms_optimum_and_no_worse_than_f():
    torch.manual_seed(0)
    bundle = new_bundle("mfif", seed=0)
    a, b = pair()
    gap = probe_fit.fit_gap(bundle, a, b, alpha1=0.0)  # the intensity term alone: the blend is its minimum
    assert gap["loss"]["blend"] <= gap["loss"]["model"]
    m = torch.from_numpy(np.stack([gap["maps"][k] for k in probe_fit.MAPS]))[None]
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None]  # noqa: E731
    for shift in (0.02, -0.02):  # moving the blend either way raises the intensity term
        worse = float(fusion_loss(t(gap["blend"] + shift), t(a), t(b), m, 0.0)[0])
        assert worse > gap["loss"]["blend"]


def test_identity_error_is_zero_for_a_copy_and_measured_for_a_fresh_f():
    bundle = new_bundle("mfif", seed=0)
    a, _ = pair()
    err, q = probe_fit.identity_error(bundle, a)
    assert err > 1.0 and q < 0.9  # an untrained F does not return its input
    bundle.fusion.forward = lambda x: x[:, :1]  # a fusion that copies A: no error, Q_CB 1
    err, q = probe_fit.identity_error(bundle, a, engine="reference")
    assert err < 1e-6 and q > 0.99


def test_specialising_on_one_pair_lowers_its_loss():
    torch.manual_seed(0)
    bundle = new_bundle("mfif", seed=0)
    a, b = pair()
    maps = probe_fit.fit_gap(bundle, a, b, alpha1=1.0)["maps"]
    steps = list(probe_fit.specialise(bundle, a, b, maps, steps=40, lr=2e-3, alpha1=1.0, crop=32, every=20))
    assert [s for s, _, _ in steps] == [0, 20, 40]
    assert steps[-1][1] < 0.5 * steps[0][1]
    assert not bundle.fusion.training


def test_widened_f_computes_the_same_function_and_its_copies_then_part():
    torch.manual_seed(0)
    f = new_bundle("mfif", seed=0).fusion
    for p in f.parameters():  # away from the initialisation's symmetries (LayerNorm 1 and 0, temperatures 1)
        p.data.add_(0.05 * torch.randn_like(p))
    wide = probe_fit.widen_fusion(f)
    assert wide.dim == 2 * f.dim and sum(p.numel() for p in wide.parameters()) > 3 * sum(
        p.numel() for p in f.parameters())
    x = torch.rand(2, 2, 24, 40)
    with torch.no_grad():
        assert torch.allclose(wide(x), f(x), atol=1e-5)
    # the two copies of a channel get different gradients (the r, 1 - r split downstream), so they part
    opt = torch.optim.SGD(wide.parameters(), lr=1e-2)
    wide(x).square().mean().backward()
    g = wide.project_in_1.weight.grad  # copies of old channel 0 are new channels 0 and 2 (head 0: old 0, 1, 0, 1)
    assert not torch.allclose(g[0], g[2], rtol=1e-3, atol=0.0)
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(wide(x), f(x), atol=1e-5)


def test_annealed_specialising_ends_with_small_steps():
    a, b = pair()

    def last_step(anneal: bool) -> float:
        torch.manual_seed(0)
        bundle = new_bundle("mfif", seed=0)
        maps = probe_fit.fit_gap(bundle, a, b, alpha1=1.0)["maps"]
        snaps = [torch.cat([p.detach().flatten().clone() for p in bundle.fusion.parameters()])
                 for _ in probe_fit.specialise(bundle, a, b, maps, steps=4, lr=1e-3, alpha1=1.0, crop=32, every=1,
                                               anneal=anneal)]
        return float((snaps[-1] - snaps[-2]).abs().mean())

    # the 4th of 4 steps at a cosine rate: 0.15 of the constant rate's
    assert last_step(anneal=True) < 0.3 * last_step(anneal=False)
