"""The fast path of F and P: the same functions as the modules in :mod:`refusion_core.models`, evaluated
stage by stage and tile by tile (:mod:`refusion_core.tiling`) with rearranged weights; the tile kernels
are in :mod:`refusion_core.fast_kernels`.

What makes it fast and lean on a CPU (all exact up to float rounding):

- NHWC tiles: layer norm over channels is the fused kernel on the last axis (no permutes), 1×1 convolutions
  are one GEMM on a (pixels, C) view, 3×3 and depthwise convolutions take oneDNN's channels-last path.
- Residual additions happen inside the GEMM of the projection before them (addmm_ with β = 1, in place).
- The attention matrix is applied as a per-pixel D×D matrix, merged with the 1×1 projection after it
  (project_out · blockdiag(softmax)), and added to the residual in the same GEMM.
- q, k and v are computed only where needed: q, k in the statistics sweep, v in the apply sweep.
- F's two encoders run as one block of twice the width with block-diagonal weights; the AFM's three 1×1
  convolutions on u = [x1, x2] are one GEMM (branch weights padded with exact zeros).
- Tiles of a few thousand pixels, and the gated feed-forwards computed in chunks of 32 channels, keep
  the working set in cache (the 4C–16C-wide intermediates never exist whole).

Build the stages from a module with :func:`fusion_stages` / :func:`proposal_stages`; the module is only
read (rearranging its weights takes milliseconds), so rebuilt stages always reflect its current weights.
"""

from __future__ import annotations

import torch
from kornia.filters import sobel

from . import fast_kernels as k
from .models import FusionNet, LossProposalNet
from .models.blocks import RestormerBlock

NORM_EPS = 1e-12  # F.normalize's clamp of the L2 norm
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
        assert self.t.numel() == heads
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
    """Restormer blocks of width d side by side on the stream [x1 | x2 | …] (one block: F's decoder;
    two: F's two encoders) as a stage: stats of the attention, then x + MDTA(LN x), x + GDFN(LN x).

    Side-by-side blocks run as one block of width D = G·d with block-diagonal weights and G·heads heads:
    twice the multiply-adds of two separate passes at G = 2, but half the calls and no splitting copies,
    which is faster at these widths (16 channels).
    """

    halo, stats_halo = 2, 1

    def __init__(self, *blks: RestormerBlock):
        self.groups = len(blks)
        self.dim = sum(b.norm1.body.weight.shape[0] for b in blks)
        self.norm1 = _affine([b.norm1.body for b in blks])
        self.norm2 = _affine([b.norm2.body for b in blks])
        qkv = [_w1(b.attn.qkv) for b in blks]
        qkv_dw = [b.attn.qkv_dwconv.weight.detach() for b in blks]
        self.qk_w = torch.cat([_diag(qkv, 0, 3), _diag(qkv, 1, 3)])  # (2D, D): [q1 q2 | k1 k2]
        self.qk_dw = torch.cat([_stack(qkv_dw, 0, 3), _stack(qkv_dw, 1, 3)])
        self.v_w, self.v_dw = _diag(qkv, 2, 3), _stack(qkv_dw, 2, 3)
        temperature = torch.cat([b.attn.temperature.detach().reshape(-1) for b in blks])
        self.att = Attention(temperature, sum(b.attn.heads for b in blks),
                             torch.block_diag(*[_w1(b.attn.project_out) for b in blks]))
        p_in = [_w1(b.ffn.project_in) for b in blks]
        f_dw = [b.ffn.dwconv.weight.detach() for b in blks]
        self.ffn = gated_parts(torch.cat([_diag(p_in, 0, 2), _diag(p_in, 1, 2)]),  # (4D, D): [g1 g2 | h1 h2]
                               torch.cat([_stack(f_dw, 0, 2), _stack(f_dw, 1, 2)]),
                               torch.block_diag(*[_w1(b.ffn.project_out) for b in blks]))  # (D, 2D)

    def stats(self, x: torch.Tensor, core) -> torch.Tensor:
        qk = k.block_qk(*around(x, core), *self.norm1, self.groups, self.qk_w, self.qk_dw)  # (1, hc, wc, 2D)
        return self.att.stats(qk[..., :self.dim], qk[..., self.dim:])

    def finish(self, total: torch.Tensor) -> torch.Tensor:
        return self.att.finish(total)

    def apply(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        """x (1, h, w, D) contiguous, updated in place."""
        return k.block_apply(x, mix, *self.norm1, *self.norm2, self.groups, self.v_w, self.v_dw,
                    self.ffn)


def _affine(norms) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.cat([n.weight.detach() for n in norms]), torch.cat([n.bias.detach() for n in norms]))


def _chunk(w: torch.Tensor, part: int, parts: int) -> torch.Tensor:
    n = w.shape[0] // parts
    return w[part * n:(part + 1) * n]


def _diag(ws, part: int, parts: int) -> torch.Tensor:
    """Block-diagonal of every block's ``part``-th row chunk of its 1×1 weight (C_out, C_in)."""
    return torch.block_diag(*[_chunk(w, part, parts) for w in ws])


def _stack(ws, part: int, parts: int) -> torch.Tensor:
    """Every block's ``part``-th chunk of its depthwise weight (C, 1, 3, 3), stacked."""
    return torch.cat([_chunk(w, part, parts) for w in ws]).contiguous()


class InputConvs:
    """F's first stage: conv3 of Ia and of Ib -> the stream [x1 | x2]; one grouped convolution."""

    halo, stats_halo = 1, 0

    def __init__(self, f: FusionNet):
        self.w = torch.cat([f.project_in_1.weight, f.project_in_2.weight]).detach()  # (2C, 1, 3, 3)

    def apply(self, x, ctx=None):
        return k.conv3(x, self.w, 2)


class FusionModule:
    """The AFM as a stage: cross-attention statistics from [x1 | x2], then the module itself."""

    halo, stats_halo = 2, 1

    def __init__(self, f: FusionNet):
        fm, c = f.FM, f.dim
        self.c = c
        w1, w2 = _w1(fm.qkv1), _w1(fm.qkv2)
        d1, d2 = fm.qkv1_dwconv.weight.detach(), fm.qkv2_dwconv.weight.detach()
        # q1, k1 from x1 and q2, k2 from x2 in one GEMM and one depthwise call: [q1 k1 q2 k2]
        z = torch.zeros(2 * c, c, dtype=w1.dtype, device=w1.device)
        self.qk_w = torch.cat([torch.cat([w1[:2 * c], z], 1), torch.cat([z, w2[:2 * c]], 1)])  # (4C, 2C)
        self.qk_dw = torch.cat([d1[:2 * c], d2[:2 * c]])
        zc = z[:c]
        self.v_w = torch.cat([torch.cat([w1[2 * c:], zc], 1), torch.cat([zc, w2[2 * c:]], 1)])  # (2C, 2C)
        self.v_dw = torch.cat([d1[2 * c:], d2[2 * c:]])
        self.att1 = Attention(fm.temperature1, fm.heads, _w1(fm.project_mid1))  # q2 · k1 -> v1
        self.att2 = Attention(fm.temperature2, fm.heads, _w1(fm.project_mid2))  # q1 · k2 -> v2
        e, e1, e2 = _w1(fm.project_E), _w1(fm.project_E1), _w1(fm.project_E2)
        z4 = torch.zeros(4 * c, c, dtype=e.dtype, device=e.device)
        self.gate = gated_parts(torch.cat([e, torch.cat([e1, z4], 1), torch.cat([z4, e2], 1)]),  # g1 g2 | E1 E2
                                torch.cat([fm.project_E_d.weight, fm.project_E1_d.weight,
                                           fm.project_E2_d.weight]).detach(),
                                torch.cat([_w1(fm.project_out1), _w1(fm.project_out2)], 1))  # (2C, 8C)

    def stats(self, x, core):
        c = self.c
        xs, pad = around(x, core)
        qk = k.dw_core(torch.nn.functional.linear(xs, self.qk_w), self.qk_dw, pad)  # (1, hc, wc, 4C): q1 k1 q2 k2
        q1, k1, q2, k2 = (qk[..., i * c:(i + 1) * c] for i in range(4))
        return torch.cat([self.att1.stats(q2, k1), self.att2.stats(q1, k2)])

    def finish(self, total):
        n = self.c ** 2 + 2 * self.c
        return torch.block_diag(self.att1.finish(total[:n]), self.att2.finish(total[n:]))  # M1, M2 on [v1 | v2]

    def apply(self, x, mix):
        return k.fusion_module_apply(x, mix, self.v_w, self.v_dw, self.gate)


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

    def apply(self, x, mix):
        return k.fusion_head(self.block.apply(x, mix), self.w0, self.w1)  # (1, h, w, 1)


class ProposalIn:
    """P's first stage: [Ia, Ib, ∇Ia, ∇Ib] -> conv3 -> leaky ReLU."""

    halo, stats_halo = 2, 0

    def __init__(self, p: LossProposalNet):
        self.w = p.project_in.weight.detach()

    def apply(self, x, ctx=None):
        grads = sobel(x.permute(0, 3, 1, 2), normalized=True, eps=1e-6).permute(0, 2, 3, 1)  # replicate pad
        return torch.nn.functional.leaky_relu(k.conv3(torch.cat([x, grads], -1), self.w), 0.01)


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

    def apply(self, x, mix):
        return k.proposal_head(self.block.apply(x, mix), self.w)  # (1, h, w, 4)


def fusion_stages(f: FusionNet) -> list:
    """F as six stages; its stream between them is 2C wide."""
    return [InputConvs(f), Block(f.encoder1[0], f.encoder2[0]), Block(f.encoder1[1], f.encoder2[1]),
            FusionModule(f), Block(f.decoder[0]), DecoderOut(f)]


def proposal_stages(p: LossProposalNet) -> list:
    """P as two stages; its stream between them is C wide."""
    return [ProposalIn(p), ProposalOut(p)]
