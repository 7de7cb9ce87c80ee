"""Restormer building blocks shared by F, R and P.

Shapes use B batch, C channels, H×W pixels. Convolutions have no bias, as in the released F.
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from kornia.filters import sobel
from torch import nn


def conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 1, bias=False)


def dwconv3x3(c: int) -> nn.Conv2d:
    return nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)


class LayerNorm2d(nn.Module):
    """Layer norm over channels at every pixel (biased variance, eps 1e-5), (B, C, H, W) -> same.

    Attribute path ``body.weight``/``body.bias`` matches the released checkpoints.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.LayerNorm(channels, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, H, W, C) -> norm -> back
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def channel_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: torch.Tensor,
                      heads: int) -> torch.Tensor:
    """Transposed (channel) attention of Restormer, global over all pixels.

    Args:
        q, k, v: (B, D, H, W), channels-first or channels-last.
        temperature: (heads, 1, 1).
    Returns:
        (B, D, H, W) in v's memory format: softmax(t · q̂ k̂ᵀ) v per head, q̂, k̂ L2-normalised along pixels.

    The heads are computed together as one block-diagonal (D, D) attention per image (off-head logits -inf,
    so softmax gives them exactly 0): every product is then one batched matmul over (B, H·W, D) views, which
    need no copy in either memory format (a per-head (B, heads, D/heads, H·W) reshape copies a channels-last
    tensor). The heads× more multiply-adds are few next to the convolutions (D ≤ 32).
    """
    b, d, h, w = q.shape
    q, k, v = (_pixels(x) for x in (q, k, v))  # 3 × (B, H*W, D), views
    # q̂ k̂ᵀ = (q kᵀ) / (‖q‖ ‖k‖ᵀ), as F.normalize then matmul (same eps), but summed accurately: over a
    # megapixel one float32 sum of H·W products drifts by ~1e-5 relative (the output by ~6e-4), while sums
    # of blocks of SUM_BLOCK pixels, then over the blocks, stay at float32 round-off at any image size.
    # q̂ = q / ‖q‖, with a row whose norm is below eps taken as the zero row, constant: the same values as
    # F.normalize up to float round-off wherever ‖q‖ > 1e-12, but a zero row (a fresh F on an all-black crop:
    # no conv bias, LayerNorm bias 0) gets gradient 0. With F.normalize's max(‖q‖, eps) it got 0·∞ = NaN in
    # the backward, and in the meta step's second-order pass an inner gradient of ~1e12 that sent F' off to
    # saturation and gave P an all-zero meta-gradient (tests/refusion_core/training/test_meta.py).
    inv_q, inv_k = _inverse_norm(q), _inverse_norm(k)  # (B, D) each (torch.sum is pairwise; vector_norm is not)
    t = temperature.reshape(heads, 1).repeat_interleave(d // heads, dim=0)  # (D, 1): row i has its head's t
    logits = blocked_gram(q, k) * inv_q.unsqueeze(-1) * inv_k.unsqueeze(-2) * t  # (B, D, D)
    attn = logits.masked_fill(~_same_head(d, heads, q.device), float("-inf")).softmax(dim=-1)
    out = v @ attn.transpose(1, 2)  # (B, H*W, D)
    out = out.unflatten(1, (h, w)).permute(0, 3, 1, 2)  # (B, D, H, W), channels-last
    return out if v.stride(-1) == 1 else out.contiguous()  # v's format: channels-first if v's D stride is not 1


SUM_BLOCK = 4096
NORM_EPS = 1e-12


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """(B, D, H, W) -> (B, H*W, D), a view in both memory formats (and of a channel slice of either)."""
    return x.permute(0, 2, 3, 1).flatten(1, 2)


def _same_head(d: int, heads: int, device) -> torch.Tensor:
    """(D, D) bool, True where channels i and j belong to the same head (heads of D/heads channels)."""
    head = torch.arange(d, device=device) // (d // heads)
    return head[:, None] == head[None, :]


def _inverse_norm(x: torch.Tensor) -> torch.Tensor:
    """1 / ‖x‖ over the pixel axis, (B, N, D) -> (B, D); 0 (constant, no gradient) where ‖x‖ ≤ NORM_EPS."""
    sq = (x * x).sum(1)
    ok = sq > NORM_EPS * NORM_EPS
    return torch.where(ok, 1.0 / sq.clamp_min(NORM_EPS * NORM_EPS).sqrt(), torch.zeros_like(sq))


def blocked_gram(q: torch.Tensor, k: torch.Tensor, block: int = SUM_BLOCK) -> torch.Tensor:
    """qᵀ k over the pixel axis, (B, N, D) x (B, N, E) -> (B, D, E), summed per block of at most ``block``
    pixels and then over the blocks (two-level summation: float32 error independent of N).

    The N pixels are cut into n = ⌈N / block⌉ equal blocks, so the cut is a view (96² = 3 × 3072,
    128² = 4 × 4096); where n does not divide N, both are zero-padded to a multiple of n (zeros add
    nothing). A ragged last block would be a slice, whose backward writes a zero tensor of the full size.
    """
    n = q.shape[1]
    if n <= block:
        return q.transpose(1, 2) @ k
    blocks = -(-n // block)
    pad = -n % blocks
    if pad:
        q, k = (fn.pad(x, (0, 0, 0, pad)) for x in (q, k))  # (B, N + pad, D)
    qb = q.unflatten(1, (blocks, -1))  # (B, blocks, N/blocks, D)
    kb = k.unflatten(1, (blocks, -1))
    return (qb.transpose(-2, -1) @ kb).sum(1)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention, width D -> D."""

    def __init__(self, dim: int, heads: int = 8):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = conv1x1(dim, dim * 3)
        self.qkv_dwconv = dwconv3x3(dim * 3)
        self.project_out = conv1x1(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)  # 3 × (B, D, H, W)
        return self.project_out(channel_attention(q, k, v, self.temperature, self.heads))


class GDFN(nn.Module):
    """Gated depthwise feed-forward network, width D, hidden 2D, exact (erf) GELU."""

    def __init__(self, dim: int, expansion: int = 2):
        super().__init__()
        hidden = dim * expansion
        self.project_in = conv1x1(dim, hidden * 2)
        self.dwconv = dwconv3x3(hidden * 2)
        self.project_out = conv1x1(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, h = self.dwconv(self.project_in(x)).chunk(2, dim=1)  # 2 × (B, 2D, H, W)
        return self.project_out(fn.gelu(g) * h)


class RestormerBlock(nn.Module):
    """x + MDTA(LN(x)), then x + GDFN(LN(x)); (B, D, H, W) -> same."""

    def __init__(self, dim: int, heads: int = 8):
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.attn = MDTA(dim, heads)
        self.norm2 = LayerNorm2d(dim)
        self.ffn = GDFN(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """∇x: Sobel gradient magnitude, (B, C, H, W) -> (B, C, H, W), each channel on its own.

    kornia's normalised 3×3 Sobel kernels (each divided by 8), replicate border padding, and
    magnitude sqrt(gx² + gy² + 1e-6); the small epsilon keeps the derivative finite on flat regions.
    P (for its inputs) and the losses (:mod:`refusion_core.training.losses`) call it once on several images
    concatenated along C (fewer, larger operations).
    """
    return sobel(x, normalized=True, eps=1e-6)
