"""P, the loss proposal module: [wa, wb], [va, vb] = P(Ia, Ib, ∇Ia, ∇Ib).

Not released by the authors; the paper shows a small convolutional/Restormer network with a final
softmax. Our design, ``refusion-p-2`` (the default since the quality campaign, issue 13), is swap-equivariant:

    g(x, y) = conv3_{C->2}(RTB(leaky_relu(conv3_{4->C}([x, y, ∇x, ∇y]))))      (B, 2, H, W), C = 16
    la = g(Ia, Ib), lb = g(Ib, Ia)                                             one pass over a 2B batch
    [wa, wb] = softmax([la_0, lb_0]), [va, vb] = softmax([la_1, lb_1])        over the pair axis

so P(Ib, Ia) is P(Ia, Ib) with a and b exchanged: a source is preferred for what it shows at a pixel (its
brightness, its sharpness, its contrast to the other source), never for being the first or the second input.
Why: P learns only from Algorithm 1's noisy second-order signal. scripts/diagnose_meta.py showed that on
synthetic multi-focus batches the per-pixel signal of v points the right way (toward the sharp source), but
Adam on the first design (``refusion-p-1``: one conv3_{C->4} head with four free logits) moved v the wrong
way: a global, content-free preference for one input, pushed by F's own (random) asymmetry, grew faster
than the content-dependent part (mean v over the sharp regions 0.50 -> 0.38 in 54 steps), as the shipped
models showed (MFIF w_a 0.72 everywhere; MEIF's balance drifting 0.45-0.55 between runs). With the swapped
pass the content-free part is zero by construction and the same steps moved v toward the sharp source on
both halves (docs/BENCHMARKS.md, "Is P's signal right?"). The cost is P run on twice the pixels.

``refusion-p-1`` (``symmetric=False``) is kept so that models trained with it load and run unchanged.

∇ is the Sobel gradient magnitude (kornia, normalised kernels). The last convolution starts at zero,
so at initialisation every map is exactly 1/2 (4,504 parameters; p-1 4,792): the fusion target is the plain
average of the sources (intensity) and of their gradients, a sensible start that needs no pre-training. The
gradient inputs let P see sharpness and texture directly, which multi-focus and exposure need.
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from torch import nn

from refusion_core import MAP_NAMES  # noqa: F401 (models.MAP_NAMES)
from refusion_core.models.blocks import RestormerBlock, conv3x3, sobel_magnitude

ARCH_VERSION = "refusion-p-2"  # swap-equivariant; "refusion-p-1" when symmetric=False
ARCH_VERSIONS = {True: "refusion-p-2", False: "refusion-p-1"}


class LossProposalNet(nn.Module):
    """P. forward(ia, ib) with ia, ib (B, 1, H, W) in [0, 1] -> (B, 4, H, W) maps wa, wb, va, vb.

    wa + wb = 1 and va + vb = 1 at every pixel. ``symmetric`` (default) is ``refusion-p-2``, False the older
    ``refusion-p-1`` (see the module docstring).
    """

    def __init__(self, dim: int = 16, heads: int = 8, zero_init: bool = True, symmetric: bool = True):
        super().__init__()
        self.dim, self.heads, self.symmetric = dim, heads, symmetric
        self.project_in = conv3x3(4, dim)
        self.body = RestormerBlock(dim, heads)
        self.project_out = conv3x3(dim, 2 if symmetric else 4)
        if zero_init:
            nn.init.zeros_(self.project_out.weight)

    @property
    def arch_version(self) -> str:
        return ARCH_VERSIONS[self.symmetric]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4, H, W) = [x, y, ∇x, ∇y] -> (N, 2 or 4, H, W) logits."""
        return self.project_out(self.body(fn.leaky_relu(self.project_in(x), 0.01)))

    def forward(self, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        ga, gb = sobel_magnitude(ia), sobel_magnitude(ib)
        if not self.symmetric:
            logits = self.logits(torch.cat([ia, ib, ga, gb], dim=1))  # (B, 4, H, W)
            w, v = logits[:, 0:2], logits[:, 2:4]
        else:
            x = torch.cat([torch.cat([ia, ib, ga, gb], dim=1), torch.cat([ib, ia, gb, ga], dim=1)])  # (2B, 4, H, W)
            la, lb = self.logits(x).chunk(2)  # (B, 2, H, W) each: [w-logit, v-logit] of a, of b
            w, v = torch.cat([la[:, 0:1], lb[:, 0:1]], dim=1), torch.cat([la[:, 1:2], lb[:, 1:2]], dim=1)
        return torch.cat([w.softmax(dim=1), v.softmax(dim=1)], dim=1)  # (B, 4, H, W): wa, wb, va, vb
