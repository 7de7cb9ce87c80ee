"""The throughput work of issue 13 changes how the training steps compute, not what: channels-last modules,
channel attention as one block-diagonal product over (B, H·W, D) views, Sobel as one convolution over
concatenated images. The reference is the code before it: channels-first modules, per-head attention on
(B, heads, D/heads, H·W) reshapes, kornia's sobel (patched in below)."""

import contextlib

import pytest
import torch
import torch.nn.functional as fn
from kornia.filters import sobel

from refusion_core.training import losses
from refusion_core.training.meta import Batch, fuse_recon_step, meta_gradient_hvp, meta_step
from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet, blocks, fusion, loss_proposal

CL = torch.channels_last


def reference_attention(q, k, v, temperature, heads):
    """channel_attention as it was: per-head reshapes, F.normalize's max(‖q‖, eps) (no zero rows here)."""
    b, d, h, w = q.shape
    q, k, v = (x.reshape(b, heads, d // heads, h * w) for x in (q, k, v))
    q, k = fn.normalize(q, dim=-1), fn.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1) * temperature).softmax(dim=-1)  # (B, heads, D/h, D/h)
    return (attn @ v).reshape(b, d, h, w)


@contextlib.contextmanager
def reference_ops():
    """Run the models and losses with the reference attention and kornia's Sobel."""
    with pytest.MonkeyPatch.context() as mp:
        for module in (blocks, fusion):
            mp.setattr(module, "channel_attention", reference_attention)
        for module in (losses, loss_proposal):
            mp.setattr(module, "sobel_magnitude", lambda x: sobel(x, normalized=True, eps=1e-6))
        yield


def models(dtype, channels_last: bool, seed: int = 0):
    torch.manual_seed(seed)
    ms = FusionNet(8, 2), ReconstructionNet(8, 2), LossProposalNet(8, 2, zero_init=False)  # small: fast tests
    fmt = CL if channels_last else torch.contiguous_format
    return [m.to(dtype=dtype, memory_format=fmt) for m in ms]


def crops(dtype, size: int, n: int = 1, seed: int = 1) -> list[Batch]:
    """Three batches of smooth textures (n, 1, size, size) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)

    def texture():
        x = torch.rand(n, 1, size // 4, size // 4, generator=g, dtype=torch.float64)
        return fn.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).to(dtype)

    return [Batch(texture(), texture()) for _ in range(3)]


def flat(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


# ----- the operations --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sobel_magnitude_is_kornias_sobel(dtype):
    x = torch.rand(3, 4, 17, 23, dtype=dtype)
    assert torch.equal(losses.sobel_magnitude(x), sobel(x, normalized=True, eps=1e-6))


@pytest.mark.parametrize("n, block", [(50, 64), (64, 16), (50, 16), (4225, 4096)])
def test_blocked_gram_is_the_product(n, block):
    """One block, equal blocks (a view), and blocks that need zero padding."""
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(2, n, 6, generator=g, dtype=torch.float64) for _ in range(2))
    torch.testing.assert_close(blocks.blocked_gram(q, k, block), q.transpose(1, 2) @ k, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(9, 11), (70, 70), (65, 65)])  # one block; 2 equal blocks; 2 padded blocks
@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL])
def test_channel_attention_matches_the_per_head_reference(size, fmt):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 48, *size, generator=g, dtype=torch.float64)
    t = torch.rand(8, 1, 1, generator=g, dtype=torch.float64) + 0.5
    expected = reference_attention(*x.chunk(3, dim=1), t, 8)
    out = blocks.channel_attention(*x.contiguous(memory_format=fmt).chunk(3, dim=1), t, 8)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert out.is_contiguous(memory_format=fmt)  # the output keeps the input's memory format
    x32 = x.float().contiguous(memory_format=fmt)
    out32 = blocks.channel_attention(*x32.chunk(3, dim=1), t.float(), 8)
    torch.testing.assert_close(out32.double(), expected, rtol=0, atol=2e-6)


# ----- the two training steps ------------------------------------------------------------------------------
def plain_steps(channels_last: bool, reference: bool, dtype, opt, batches, steps: int = 2):
    f, r, p = models(dtype, channels_last)
    opt_f, opt_r = opt(f.parameters()), opt(r.parameters())
    with reference_ops() if reference else contextlib.nullcontext():
        logs = [fuse_recon_step(f, r, p, opt_f, opt_r, batches[i]) for i in range(steps)]
    return logs, flat(f), flat(r)


@pytest.mark.parametrize("dtype, size, opt, tol", [
    (torch.float64, 24, lambda ps: torch.optim.Adam(ps, lr=1e-3), 1e-10),
    (torch.float32, 68, lambda ps: torch.optim.SGD(ps, lr=1.0), 2e-5),  # the update is minus the gradient
])
def test_plain_step_gives_the_reference_losses_and_updates(dtype, size, opt, tol):
    """In float32 68² crops: 4,624 pixels, so the attention's gram is summed in two blocks."""
    batches = crops(dtype, size)
    start_f, start_r = flat(models(dtype, False)[0]), flat(models(dtype, False)[1])
    logs_ref, f_ref, r_ref = plain_steps(False, True, dtype, opt, batches)
    logs, f_new, r_new = plain_steps(True, False, dtype, opt, batches)
    for a, b in zip(logs, logs_ref):
        assert a["lf"] == pytest.approx(b["lf"], rel=tol) and a["lr"] == pytest.approx(b["lr"], rel=tol)
    for new, ref, start in ((f_new, f_ref, start_f), (r_new, r_ref, start_r)):
        step = (ref - start).abs().max()
        assert step > 0
        torch.testing.assert_close(new - start, ref - start, rtol=0, atol=tol * float(step) * 10)


def meta_gradients(channels_last: bool, reference: bool, dtype, batches):
    f, r, p = models(dtype, channels_last)
    opt_p = torch.optim.Adam(p.parameters(), lr=1e-3)
    with reference_ops() if reference else contextlib.nullcontext():
        logs = meta_step(f, r, p, opt_p, batches[0], batches[1], 1e-2, gradient=meta_gradient_hvp)
    return {k: q.grad for k, q in p.named_parameters()}, logs, flat(p)  # meta_step leaves the meta-gradient in .grad


@pytest.mark.parametrize("dtype, size, tol", [(torch.float64, 24, 1e-9), (torch.float32, 68, 1e-4)])
def test_meta_step_gives_the_reference_meta_gradient(dtype, size, tol):
    batches = crops(dtype, size)
    g_ref, logs_ref, p_ref = meta_gradients(False, True, dtype, batches)
    g_new, logs_new, p_new = meta_gradients(True, False, dtype, batches)
    assert logs_new == pytest.approx(logs_ref, rel=tol)
    scale = max(float(g.abs().max()) for g in g_ref.values())
    assert scale > 0
    for name, g in g_ref.items():
        torch.testing.assert_close(g_new[name], g, rtol=0, atol=tol * scale, msg=name)
    if dtype == torch.float64:  # Adam's first step is lr·sign(g) where |g| ≫ eps: exact only in float64
        torch.testing.assert_close(p_new, p_ref, rtol=0, atol=1e-9)


def test_trainer_modules_are_channels_last(tmp_path):
    from refusion_core.training.settings import TrainSettings
    from refusion_core.training.trainer import Trainer

    trainer = Trainer(TrainSettings(), [], tmp_path, _load_pairs=False)
    conv = trainer.fusion.project_out_0.weight  # a 3×3 convolution: the two formats differ
    assert conv.is_contiguous(memory_format=CL) and not conv.is_contiguous()
