"""Lf and Lr against values worked out by hand on small tensors."""

import math

import pytest
import torch

from refusion_core.training.losses import fusion_loss, reconstruction_loss, sobel_magnitude

EPS = 1e-6  # kornia's epsilon inside the Sobel magnitude


def const(v, h=3, w=3):
    return torch.full((1, 1, h, w), float(v), dtype=torch.float64)


def maps(wa, va):
    wa, va = torch.as_tensor(wa, dtype=torch.float64), torch.as_tensor(va, dtype=torch.float64)
    return torch.stack([wa, 1 - wa, va, 1 - va]).reshape(1, 4, *wa.shape)


def test_sobel_of_a_ramp():
    # x[i, j] = j: normalised Sobel gives gx = 1 inside, 1/2 at the replicate-padded borders, gy = 0
    x = torch.arange(4, dtype=torch.float64).repeat(3, 1)[None, None]
    g = sobel_magnitude(x)[0, 0]
    expect = torch.tensor([0.5, 1.0, 1.0, 0.5], dtype=torch.float64).repeat(3, 1)
    torch.testing.assert_close(g, torch.sqrt(expect ** 2 + EPS))


def test_fusion_loss_intensity_term_by_hand():
    # constant images: gradient term vanishes; Lf_int = mean(wa (a-f)^2 + wb (b-f)^2)
    wa = torch.tensor([[0.2, 0.8], [0.5, 1.0]])
    lf, parts = fusion_loss(const(0.5, 2, 2), const(1.0, 2, 2), const(0.0, 2, 2), maps(wa, torch.full((2, 2), .5)))
    # per pixel: wa*0.25 + (1-wa)*0.25 = 0.25
    assert float(parts["int"]) == pytest.approx(0.25)
    assert float(parts["grad"]) == pytest.approx(0.0, abs=1e-12)
    lf, parts = fusion_loss(const(0.25, 2, 2), const(1.0, 2, 2), const(0.0, 2, 2), maps(wa, torch.full((2, 2), .5)))
    # per pixel: wa*0.5625 + (1-wa)*0.0625; mean wa = 0.625 -> 0.625*0.5625 + 0.375*0.0625
    assert float(parts["int"]) == pytest.approx(0.625 * 0.5625 + 0.375 * 0.0625)


def test_fusion_loss_gradient_term_and_alpha1():
    ramp = torch.arange(4, dtype=torch.float64).repeat(3, 1)[None, None] / 4  # gx = 1/4 inside, 1/8 at borders
    zero = torch.zeros_like(ramp)
    m = maps(torch.full((3, 4), 0.5), torch.full((3, 4), 0.75))
    lf, parts = fusion_loss(zero, ramp, zero, m, alpha1=2.0)
    s0 = math.sqrt(EPS)
    d_in, d_border = math.sqrt(1 / 16 + EPS) - s0, math.sqrt(1 / 64 + EPS) - s0
    grad = 0.75 * (d_in ** 2 + d_border ** 2) / 2  # va * (|∇a| - |∇f|)^2, vb term is 0 (b = f)
    intensity = 0.5 * float((ramp ** 2).mean())  # wa (a - f)^2, b = f
    assert float(parts["grad"]) == pytest.approx(grad, rel=1e-9)
    assert float(parts["int"]) == pytest.approx(intensity, rel=1e-9)
    assert float(lf) == pytest.approx(intensity + 2.0 * grad, rel=1e-9)


def test_reconstruction_loss_max_and_sum():
    a, b = const(1.0, 2, 2), const(0.0, 2, 2)
    ra = torch.tensor([[0.0, 0.5], [1.0, 1.0]], dtype=torch.float64)[None, None]  # errors 1, .25, 0, 0
    rb = torch.tensor([[0.5, 0.0], [0.0, 1.0]], dtype=torch.float64)[None, None]  # errors .25, 0, 0, 1
    _, p_max = reconstruction_loss(ra, rb, a, b, reduce="max")
    assert float(p_max["int"]) == pytest.approx((1 + 0.25 + 0 + 1) / 4)
    _, p_sum = reconstruction_loss(ra, rb, a, b, reduce="sum")
    assert float(p_sum["int"]) == pytest.approx((1.25 + 0.25 + 0 + 1) / 4)
    lr, parts = reconstruction_loss(ra, rb, a, b, alpha2=3.0)
    assert float(lr) == pytest.approx(float(parts["int"]) + 3.0 * float(parts["grad"]))
    with pytest.raises(ValueError):
        reconstruction_loss(ra, rb, a, b, reduce="mean")


def test_reconstruction_loss_is_zero_for_perfect_reconstruction():
    a, b = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    lr, _ = reconstruction_loss(a.clone(), b.clone(), a, b)
    assert float(lr) == pytest.approx(0.0, abs=1e-12)


def test_gradient_scale_8_is_the_plain_sobel_kernel():
    """TrainSettings.gradient_scale 8 with α1, α2 = 1 (loss_alpha1, loss_alpha2) gives the losses whose ∇ is the plain
    Sobel kernel [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] (replicate border), computed here by hand with conv2d."""
    import torch.nn.functional as fn

    from refusion_core.training.settings import TrainSettings
    s = TrainSettings()  # the default since 2026-12-05
    assert s.gradient_scale == 8.0 and s.loss_alpha1 == 64.0 and s.loss_alpha2 == 64.0
    old = TrainSettings.from_dict({"alpha1": 2.0})  # stored before the field: the normalised kernel it trained on
    assert old.gradient_scale == 1.0 and old.loss_alpha1 == 2.0
    g = torch.Generator().manual_seed(0)
    fused, ia, ib = (torch.rand(2, 1, 12, 10, generator=g, dtype=torch.float64) for _ in range(3))
    m = torch.rand(2, 4, 12, 10, generator=g, dtype=torch.float64)
    m = torch.cat([m[:, :1], 1 - m[:, :1], m[:, 2:3], 1 - m[:, 2:3]], dim=1)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64)

    def plain(x):
        p = fn.pad(x, (1, 1, 1, 1), mode="replicate")
        gx, gy = fn.conv2d(p, kx[None, None]), fn.conv2d(p, kx.T[None, None])
        return torch.sqrt(gx ** 2 + gy ** 2)

    gf, ga, gb = plain(fused), plain(ia), plain(ib)
    l_int = (m[:, :1] * (ia - fused) ** 2 + m[:, 1:2] * (ib - fused) ** 2).mean()
    l_grad = (m[:, 2:3] * (ga - gf) ** 2 + m[:, 3:4] * (gb - gf) ** 2).mean()
    lf, _ = fusion_loss(fused, ia, ib, m, s.loss_alpha1)
    assert float(lf) == pytest.approx(float(l_int + l_grad), rel=1e-4)  # the 1e-6 under the root, seen 64× larger
    assert float(fusion_loss(fused, ia, ib, m, old.loss_alpha1 / 2)[0]) < 0.2 * float(lf)


def test_a_fine_tune_keeps_the_gradient_scale_and_darkening_its_start_was_trained_with(tmp_path):
    """with_start_settings: a start whose stored settings lack the ∇ scale (trained before it) gives 1, one
    that records 8 gives 8, a file without training settings (a released checkpoint) and training from scratch keep
    the settings' own; a weights path is read like a bundle."""
    from refusion_core.models.checkpoint import new_bundle, save_model
    from refusion_core.training.settings import TrainSettings, with_start_settings
    s = TrainSettings(gradient_scale=4.0)
    old, new, bare = (new_bundle("mif", seed=0) for _ in range(3))
    old.meta["settings"] = {"alpha1": 1.0}
    new.meta["settings"] = TrainSettings().to_dict()
    assert with_start_settings(s, old, "mif").gradient_scale == 1.0
    assert with_start_settings(s, new, "mif").gradient_scale == 8.0
    assert with_start_settings(s, bare, "mif").gradient_scale == 4.0
    assert with_start_settings(s, None, "mif") is s
    path = save_model(tmp_path / "old.safetensors", old)
    assert with_start_settings(s, path, "mif").gradient_scale == 1.0
    new.meta["settings"] = TrainSettings(darken=0.5, crush=0.25, stretch=0.5).to_dict()  # the augmentation comes along
    tuned = with_start_settings(TrainSettings(), new, "ivif")
    assert (tuned.darken, tuned.crush, tuned.stretch) == (0.5, 0.25, 0.5)
    assert with_start_settings(TrainSettings(darken=0.1), old, "ivif").darken == 0.0  # stored without: none
    assert with_start_settings(TrainSettings(darken=0.1), new, "ivif", ["gradient_scale"]).darken == 0.1
