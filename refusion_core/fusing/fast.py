"""The fast path of F and P: the same functions as the modules in :mod:`refusion_core.models`, evaluated
stage by stage and tile by tile (:mod:`refusion_core.fusing.tiling`) with rearranged weights; the tile kernels
are in :mod:`refusion_core.fusing.kernels`.

What makes it fast and lean on a CPU (all exact up to float rounding):

- NHWC tiles: layer norm over channels is the fused kernel on the last axis (no permutes), 1×1 convolutions
  are one GEMM on a (pixels, C) view, 3×3 and depthwise convolutions take oneDNN's channels-last path.
- Residual additions happen inside the GEMM of the projection before them (addmm_ with β = 1, in place).
- The attention matrix is applied as a per-pixel D×D matrix, merged with the 1×1 projection after it
  (project_out · blockdiag(softmax)), and added to the residual in the same GEMM.
- q, k and v are computed only where needed: q, k in the statistics sweep, v in the apply sweep.
- The AFM's three 1×1 convolutions on u = [x1, x2] are one GEMM (branch weights padded with exact zeros).
- Tiles of a few thousand pixels, and the gated feed-forwards computed in chunks of 32 channels, keep
  the working set in cache (the 4C–16C-wide intermediates never exist whole).

Build the stages from a module with :func:`fusion_stages` / :func:`proposal_stages`; the module is only
read (rearranging its weights takes milliseconds), so rebuilt stages always reflect its current weights.
"""

from __future__ import annotations

import torch
from kornia.filters import sobel

from refusion_core.fusing import kernels as k
from refusion_core.models import FusionNet, LossProposalNet
from refusion_core.models.blocks import NORM_EPS, RestormerBlock, sobel_magnitude
from refusion_core.models.loss_proposal import PRIOR_HALO

CHUNK = 32  # gated channels per chunk of a feed-forward


def _w1(conv) -> torch.Tensor:
    return conv.weight.detach()[:, :, 0, 0]  # (C_out, C_in, 1, 1) -> (C_out, C_in)


def around(x: torch.Tensor, core: tuple[slice, slice]) -> tuple[torch.Tensor, list[int]]:
    """The pixels of tile x a 3×3 convolution of its ``core`` (rows, cols) reads, and where the core
    touches x's edge (x's edge is then the image border): [top, bottom, left, right] zero rows to add."""
    (rows, cols), (h, w) = core, x.shape[1:3]
    r0, r1, c0, c1 = rows.start - 1, rows.stop + 1, cols.start - 1, cols.stop + 1
    pad = [int(r0 < 0), int(r1 > h), int(c0 < 0), int(c1 > w)]
    return x[:, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)], pad


def gated_parts(w_in: torch.Tensor, w_dw: torch.Tensor, w_out: torch.Tensor, chunk: int = CHUNK) -> list:
    """Split a gated feed-forward (W_in (2E, C_in) with rows [g | h], dw (2E, 1, 3, 3), W_out (C_out, E))
    into chunks of ``chunk`` gated channels: [(W_in rows, dw rows, W_out columns)] (see gated_add)."""
    e = w_in.shape[0] // 2
    parts = []
    for c0 in range(0, e, chunk):
        c1 = min(c0 + chunk, e)
        rows = torch.cat([torch.arange(c0, c1), torch.arange(e + c0, e + c1)]).to(w_in.device)
        parts.append((w_in[rows].contiguous(), w_dw[rows].contiguous(), w_out[:, c0:c1].contiguous()))
    return parts


class Attention:
    """One channel attention with the 1×1 projection after it, as statistics and a mixing matrix.

    stats(q, k) over some pixels: [Σ q kᵀ (D×D), Σ q², Σ k²] in float64; finish(sums) ->
    W_proj · blockdiag_h(softmax(t_h · q̂ k̂ᵀ)) (D_out × D), applied per pixel to v.
    """

    def __init__(self, temperature: torch.Tensor, heads: int, project: torch.Tensor):
        self.t = temperature.detach().reshape(-1).double()  # (heads,)
        self.heads, self.project = heads, project.detach()
        self.dim = project.shape[1]

    def stats(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """q, k (1, h, w, D), possibly channel slices of one tensor (no copies are made)."""
        d = self.dim
        with torch.autocast(q.device.type, enabled=False):
            q, k = q.reshape(-1, d).float(), k.reshape(-1, d).float()  # (n, D) views, row stride ≥ D
            gram = (q.t() @ k).double().reshape(-1)  # (D·D,)
            return torch.cat([gram, (q * q).sum(0).double(), (k * k).sum(0).double()])

    def finish(self, total: torch.Tensor) -> torch.Tensor:
        d, h = self.dim, self.heads
        gram = total[:d * d].reshape(d, d)
        nq = total[d * d:d * d + d].sqrt().clamp_min(NORM_EPS)
        nk = total[d * d + d:].sqrt().clamp_min(NORM_EPS)
        cos = gram / (nq[:, None] * nk[None, :])
        a = torch.zeros(d, d, dtype=torch.float64, device=total.device)
        c = d // h
        for i in range(h):  # softmax over keys within each head
            blk = slice(i * c, (i + 1) * c)
            a[blk, blk] = (self.t[i] * cos[blk, blk]).softmax(dim=-1)
        return (self.project.double() @ a).float()  # (D_out, D)


class Block:
    """A RestormerBlock (width D) as a stage: stats of its attention, then x + MDTA(LN x), x + GDFN(LN x)."""

    halo, stats_halo = 2, 1

    def __init__(self, blk: RestormerBlock):
        d = self.dim = blk.norm1.body.weight.shape[0]
        self.norm1, self.norm2 = _affine(blk.norm1.body), _affine(blk.norm2.body)
        w, w_dw = _w1(blk.attn.qkv), blk.attn.qkv_dwconv.weight.detach()
        self.qk_w, self.qk_dw = w[:2 * d].contiguous(), w_dw[:2 * d].contiguous()  # [q | k]
        self.v_w, self.v_dw = w[2 * d:].contiguous(), w_dw[2 * d:].contiguous()
        self.att = Attention(blk.attn.temperature, blk.attn.heads, _w1(blk.attn.project_out))
        self.ffn = gated_parts(_w1(blk.ffn.project_in), blk.ffn.dwconv.weight.detach(), _w1(blk.ffn.project_out))

    def stats(self, x: torch.Tensor, core) -> torch.Tensor:
        qk = k.block_qk(*around(x, core), *self.norm1, self.qk_w, self.qk_dw)  # (1, hc, wc, 2D)
        return self.att.stats(qk[..., :self.dim], qk[..., self.dim:])

    def finish(self, total: torch.Tensor) -> torch.Tensor:
        return self.att.finish(total)

    def steps(self, mix: torch.Tensor) -> list:
        """x + MDTA(LN1 x), then x + GDFN(LN2 x); each updates x (1, h, w, D) in place."""
        return [(1, lambda x: k.block_attention(x, mix, *self.norm1, self.v_w, self.v_dw)),
                (1, lambda x: k.block_ffn(x, *self.norm2, self.ffn))]


class Branches:
    """Two blocks side by side on the stream [x1 | x2] (F's two encoders); each step runs on contiguous
    copies of the halves (about a quarter faster than one block-diagonal block of twice the width)."""

    halo, stats_halo = 2, 1

    def __init__(self, blk1: RestormerBlock, blk2: RestormerBlock):
        self.b1, self.b2 = Block(blk1), Block(blk2)

    def stats(self, x, core):
        x1, x2 = halves(x)
        return torch.cat([self.b1.stats(x1, core), self.b2.stats(x2, core)])

    def finish(self, total):
        n = self.b1.dim ** 2 + 2 * self.b1.dim
        return self.b1.finish(total[:n]), self.b2.finish(total[n:])

    def steps(self, mix) -> list:
        s1, s2 = self.b1.steps(mix[0]), self.b2.steps(mix[1])
        return [(h, _side_by_side(f1, f2)) for (h, f1), (_, f2) in zip(s1, s2)]


def halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[x1 | x2] (1, h, w, 2C) -> contiguous x1, x2."""
    c = x.shape[-1] // 2
    return x[..., :c].contiguous(), x[..., c:].contiguous()


def _side_by_side(f1, f2):
    def step(x):
        x1, x2 = halves(x)
        return torch.cat([f1(x1), f2(x2)], -1)
    return step


def _affine(norm) -> tuple[torch.Tensor, torch.Tensor]:
    return norm.weight.detach(), norm.bias.detach()


class InputConvs:
    """F's first stage: conv3 of Ia and of Ib -> the stream [x1 | x2]; one grouped convolution."""

    halo, stats_halo = 1, 0

    def __init__(self, f: FusionNet):
        self.w = torch.cat([f.project_in_1.weight, f.project_in_2.weight]).detach()  # (2C, 1, 3, 3)

    def steps(self, ctx=None) -> list:
        return [(1, lambda x: k.conv3(x, self.w, 2))]


class FusionModule:
    """The AFM as a stage: cross-attention statistics from [x1 | x2], then the module itself."""

    halo, stats_halo = 2, 1

    def __init__(self, f: FusionNet):
        fm, c = f.FM, f.dim
        self.c = c
        w1, w2 = _w1(fm.qkv1), _w1(fm.qkv2)
        d1, d2 = fm.qkv1_dwconv.weight.detach(), fm.qkv2_dwconv.weight.detach()
        self.qk = [(w[:2 * c].contiguous(), d[:2 * c].contiguous()) for w, d in ((w1, d1), (w2, d2))]  # [q | k]
        self.v = [(w[2 * c:].contiguous(), d[2 * c:].contiguous()) for w, d in ((w1, d1), (w2, d2))]
        self.att1 = Attention(fm.temperature1, fm.heads, _w1(fm.project_mid1))  # q2 · k1 -> v1
        self.att2 = Attention(fm.temperature2, fm.heads, _w1(fm.project_mid2))  # q1 · k2 -> v2
        e, e1, e2 = _w1(fm.project_E), _w1(fm.project_E1), _w1(fm.project_E2)
        z4 = torch.zeros(4 * c, c, dtype=e.dtype, device=e.device)
        self.gate = gated_parts(torch.cat([e, torch.cat([e1, z4], 1), torch.cat([z4, e2], 1)]),  # g1 g2 | E1 E2
                                torch.cat([fm.project_E_d.weight, fm.project_E1_d.weight,
                                           fm.project_E2_d.weight]).detach(),
                                torch.cat([_w1(fm.project_out1), _w1(fm.project_out2)], 1))  # (2C, 8C)

    def stats(self, x, core):
        xs, pad = around(x, core)
        (q1, k1), (q2, k2) = (k.dw_core(torch.nn.functional.linear(xi, w), w_dw, pad).chunk(2, -1)
                              for xi, (w, w_dw) in zip(halves(xs), self.qk))  # each (1, hc, wc, C)
        return torch.cat([self.att1.stats(q2, k1), self.att2.stats(q1, k2)])

    def finish(self, total):
        n = self.c ** 2 + 2 * self.c
        return self.att1.finish(total[:n]), self.att2.finish(total[n:])  # M1 on v1, M2 on v2

    def steps(self, mix) -> list:
        def cross(x):  # u = [x1 + M1 v1 | x2 + M2 v2]
            return torch.cat([k.branch_mix(xi, m, w, w_dw) for xi, m, (w, w_dw) in zip(halves(x), mix, self.v)], -1)
        return [(1, cross), (1, lambda u: k.fusion_module_gate(u, self.gate))]


class DecoderOut:
    """F's last stage: the second decoder block, conv3 -> leaky ReLU -> conv3 -> sigmoid."""

    halo, stats_halo = 4, 1

    def __init__(self, f: FusionNet):
        self.block = Block(f.decoder[1])
        self.w0, self.w1 = f.project_out_0.weight.detach(), f.project_out_1.weight.detach()

    def stats(self, x, core):
        return self.block.stats(x, core)

    def finish(self, total):
        return self.block.finish(total)

    def steps(self, mix) -> list:
        return self.block.steps(mix) + [(1, lambda x: k.conv3_leaky(x, self.w0)),
                                        (1, lambda x: k.conv3_sigmoid(x, self.w1))]  # -> (1, h, w, 1)


class ProposalIn:
    """P's first stage: [Ia, Ib, ∇Ia, ∇Ib] -> conv3 -> leaky ReLU."""

    halo, stats_halo = 2, 0

    def __init__(self, p: LossProposalNet):
        self.w = p.project_in.weight.detach()

    def steps(self, ctx=None) -> list:
        return [(1, _with_sobel), (1, lambda x: k.conv3_leaky(x, self.w))]


class ProposalOut:
    """P's last stage: its Restormer block, conv3 -> the two pairwise softmaxes."""

    halo, stats_halo = 3, 1

    def __init__(self, p: LossProposalNet):
        self.block = Block(p.body)
        self.w = p.project_out.weight.detach()

    def stats(self, x, core):
        return self.block.stats(x, core)

    def finish(self, total):
        return self.block.finish(total)

    def steps(self, mix) -> list:
        return self.block.steps(mix) + [(1, lambda x: k.proposal_head(x, self.w))]  # -> (1, h, w, 4 or 2)


def _with_sobel(x: torch.Tensor) -> torch.Tensor:
    """[Ia, Ib] -> [Ia, Ib, ∇Ia, ∇Ib]: kornia's Sobel magnitude (replicate padding), (1, h, w, 2) -> (1, h, w, 4)."""
    grads = sobel(x.permute(0, 3, 1, 2), normalized=True, eps=1e-6).permute(0, 2, 3, 1)
    return torch.cat([x, grads], -1)


def fusion_stages(f: FusionNet) -> list:
    """F as six stages; its stream between them is 2C wide."""
    return [InputConvs(f), Branches(f.encoder1[0], f.encoder2[0]), Branches(f.encoder1[1], f.encoder2[1]),
            FusionModule(f), Block(f.decoder[0]), DecoderOut(f)]


def proposal_stages(p: LossProposalNet) -> list:
    """P as two stages; its stream between them is C wide. Their output is the four maps for P refusion-p-1,
    and for a swap-equivariant P (p-2, p-3) the two logits of the first source: run them also on the swapped pair
    and combine with :func:`symmetric_maps`."""
    return [ProposalIn(p), ProposalOut(p)]


def prior_logits(p: LossProposalNet, y: torch.Tensor, rows: int = 256) -> torch.Tensor:
    """A ``refusion-p-3`` P's prior share of the [w-logit, v-logit] of one source, y (H, W) -> (2, H, W).

    Strip by strip over the full width (the features are a few channels wide, so no tiles are needed): each
    strip reads PRIOR_HALO rows beyond its own, more than its Sobel and Gaussian reach, so the result is the
    whole-image one. Add it to that source's logits before :func:`symmetric_maps`."""
    h = y.shape[0]
    out = torch.empty((2, *y.shape), dtype=torch.float32, device=y.device)
    for r0 in range(0, h, rows):
        r1 = min(r0 + rows, h)
        a0, a1 = max(r0 - PRIOR_HALO, 0), min(r1 + PRIOR_HALO, h)
        x = y[a0:a1].float()[None, None]
        out[:, r0:r1] = p.prior_logits(x, sobel_magnitude(x))[0, :, r0 - a0:r1 - a0]
    return out


def symmetric_maps(la: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """A swap-equivariant P's maps from its logits on [Ia, Ib] (la) and on [Ib, Ia] (lb), each (2, H, W) =
    [w-logit, v-logit] -> (4, H, W) = wa, wb, va, vb (refusion_core.models.loss_proposal)."""
    w = torch.stack([la[0], lb[0]]).softmax(0)
    v = torch.stack([la[1], lb[1]]).softmax(0)
    return torch.cat([w, v])
