"""Tile kernels of the fast path: the local parts of F's and P's stages on NHWC tiles (1, h, w, C).

Plain functions of tensors, the weights being arguments (the stages in :mod:`refusion_core.fusing.fast` hold
the rearranged weights). TorchScript-compiling them was tried: no measurable gain, and it is deprecated.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as fn
from torch import Tensor

Parts = List[Tuple[Tensor, Tensor, Tensor]]  # per chunk: W_in rows (2k, C_in), dw (2k, 1, 3, 3), W_out cols (C_out, k)


def conv3(x: Tensor, weight: Tensor, groups: int = 1) -> Tensor:
    """3×3 convolution, zero padding: (1, h, w, C_in) -> (1, h, w, C_out); oneDNN's channels-last path."""
    y = fn.conv2d(x.permute(0, 3, 1, 2), weight, None, [1, 1], [1, 1], [1, 1], groups)
    return y.permute(0, 2, 3, 1).contiguous()


def dw(x: Tensor, weight: Tensor) -> Tensor:
    """Depthwise 3×3 convolution, (1, h, w, C) -> same; weight (C, 1, 3, 3)."""
    return conv3(x, weight, x.shape[-1])


def dw_core(y: Tensor, weight: Tensor, pad: List[int]) -> Tensor:
    """Depthwise 3×3 on the pixels at least 1 in from y's edges only (no padding), after adding zero
    rows/columns where ``pad`` (top, bottom, left, right) says y's edge is the image border."""
    if pad[0] + pad[1] + pad[2] + pad[3] > 0:
        y = fn.pad(y, [0, 0, pad[2], pad[3], pad[0], pad[1]])
    out = fn.conv2d(y.permute(0, 3, 1, 2), weight, None, [1, 1], [0, 0], [1, 1], y.shape[-1])
    return out.permute(0, 2, 3, 1).contiguous()


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Layer norm over channels (the last axis: one fused kernel), eps 1e-5, with its affine."""
    return fn.layer_norm(x, [x.shape[-1]], weight, bias, 1e-5)


def add_linear(x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
    """x + y·Wᵀ, in place in x (one GEMM with β = 1); x (1, h, w, C_out) contiguous, y (1, h, w, C_in)."""
    if torch.is_autocast_enabled(x.device.type):  # in-place ops are not autocast
        return x + fn.linear(y, weight)
    d = x.shape[-1]
    x.view(-1, d).addmm_(y.reshape(-1, y.shape[-1]), weight.t())
    return x


def gated_add(out: Tensor, x: Tensor, parts: Parts) -> Tensor:
    """out += W_out · (GELU(g) ⊙ h), (g, h) = split2(dw3(W_in · x)), chunk by chunk; exact (erf) GELU."""
    for w_in, w_dw, w_out in parts:
        t = dw(fn.linear(x, w_in), w_dw)  # (1, h, w, 2k)
        half = t.shape[-1] // 2
        out = add_linear(out, fn.gelu(t[..., :half]).mul_(t[..., half:]), w_out)
    return out


def block_qk(x: Tensor, pad: List[int], n_w: Tensor, n_b: Tensor, qk_w: Tensor, qk_dw: Tensor) -> Tensor:
    """[q | k] = dw3(W_qk · LN(x)) of a Restormer block on x's inner pixels (see dw_core): (1, h, w, D) ->
    (1, h − 2 + pad, w − 2 + pad, 2D)."""
    return dw_core(fn.linear(layer_norm(x, n_w, n_b), qk_w), qk_dw, pad)


def block_attention(x: Tensor, mix: Tensor, n_w: Tensor, n_b: Tensor, v_w: Tensor, v_dw: Tensor) -> Tensor:
    """x + M·v, v = dw3(W_v · LN1(x)), M = projection · attention (D × D); x (1, h, w, D), in place."""
    return add_linear(x, dw(fn.linear(layer_norm(x, n_w, n_b), v_w), v_dw), mix)


def block_ffn(x: Tensor, n_w: Tensor, n_b: Tensor, parts: Parts) -> Tensor:
    """x + GDFN(LN2(x)); x (1, h, w, D), in place."""
    return gated_add(x, layer_norm(x, n_w, n_b), parts)


def linear_dw(x: Tensor, w: Tensor, w_dw: Tensor) -> Tensor:
    """dw3(W · x): (1, h, w, C_in) -> (1, h, w, C_out)."""
    return dw(fn.linear(x, w), w_dw)


def branch_mix(x: Tensor, mix: Tensor, v_w: Tensor, v_dw: Tensor) -> Tensor:
    """x + M·dw3(W_v · x): one branch of the AFM's cross attention (M = projection · attention); in place."""
    return add_linear(x, linear_dw(x, v_w, v_dw), mix)


def fusion_module_gate(u: Tensor, parts: Parts) -> Tensor:
    """u + W_out · (GELU(g) ⊙ [E1 | E2]): the AFM's gated refinement of u (1, h, w, 2C)."""
    return gated_add(u.clone(), u, parts)


def conv3_leaky(x: Tensor, w: Tensor) -> Tensor:
    """leaky_relu(conv3(x), 0.01)."""
    return fn.leaky_relu(conv3(x, w), 0.01)


def conv3_sigmoid(x: Tensor, w: Tensor) -> Tensor:
    """sigmoid(conv3(x)): F's output, (1, h, w, C) -> (1, h, w, 1)."""
    return torch.sigmoid(conv3(x, w))


def proposal_head(x: Tensor, w: Tensor) -> Tensor:
    """conv3 -> the two pairwise softmaxes: (1, h, w, C) -> (1, h, w, 4) = wa, wb, va, vb (P refusion-p-1).
    A swap-equivariant P (refusion-p-2 and p-3, a 2-logit head) stops at its logits: (1, h, w, 2); p-3 adds its
    prior to them (fast.prior_logits)."""
    logits = conv3(x, w)
    if logits.shape[-1] == 2:
        return logits
    return torch.cat([logits[..., 0:2].softmax(-1), logits[..., 2:4].softmax(-1)], -1)
