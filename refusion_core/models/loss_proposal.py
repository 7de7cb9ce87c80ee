"""P, the loss proposal module: [wa, wb], [va, vb] = P(Ia, Ib, ∇Ia, ∇Ib).

Not released by the authors; the paper shows a small convolutional/Restormer network with a final
softmax. Our design (``refusion-p-1``):

    x = concat(Ia, Ib, ∇Ia, ∇Ib)                         (B, 4, H, W)
    h = RTB(leaky_relu(conv3_{4->C}(x)))                 (B, C, H, W), C = 16
    logits = conv3_{C->4}(h)                             (B, 4, H, W)
    [wa, wb] = softmax(logits[:, 0:2]), [va, vb] = softmax(logits[:, 2:4])   over the pair axis

∇ is the Sobel gradient magnitude (kornia, normalised kernels). The last convolution starts at zero,
so at initialisation every map is exactly 1/2 (4,792 parameters in all): the fusion target is the plain average of the sources
(intensity) and of their gradients, a sensible start that needs no pre-training. The gradient inputs
let P see sharpness and texture directly, which multi-focus and exposure need.
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from torch import nn

from ..losses import sobel_magnitude
from .blocks import RestormerBlock, conv3x3

ARCH_VERSION = "refusion-p-1"
MAP_NAMES = ("wa", "wb", "va", "vb")


class LossProposalNet(nn.Module):
    """P. forward(ia, ib) with ia, ib (B, 1, H, W) in [0, 1] -> (B, 4, H, W) maps wa, wb, va, vb.

    wa + wb = 1 and va + vb = 1 at every pixel.
    """

    def __init__(self, dim: int = 16, heads: int = 8, zero_init: bool = True):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.project_in = conv3x3(4, dim)
        self.body = RestormerBlock(dim, heads)
        self.project_out = conv3x3(dim, 4)
        if zero_init:
            nn.init.zeros_(self.project_out.weight)

    def forward(self, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        x = torch.cat([ia, ib, sobel_magnitude(ia), sobel_magnitude(ib)], dim=1)  # (B, 4, H, W)
        logits = self.project_out(self.body(fn.leaky_relu(self.project_in(x), 0.01)))
        w = logits[:, 0:2].softmax(dim=1)  # (B, 2, H, W): wa, wb
        v = logits[:, 2:4].softmax(dim=1)  # (B, 2, H, W): va, vb
        return torch.cat([w, v], dim=1)  # (B, 4, H, W)
