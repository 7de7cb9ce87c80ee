"""R, the source reconstruction module: (Îa, Îb) = R(If).

The paper does not release R and only says it is built from the same Restormer blocks as F. Our design
(``refusion-r-1``), chosen to be light so that the meta step stays cheap on a CPU:

    per source k ∈ {a, b}:  Îk = sigmoid(conv3_{C->1}(RTB(conv3_{1->C}(If))))

two independent branches of width C = 16 with one Restormer block each (7,856 parameters in all).
R only has to show which content of each source survives in If; a deeper R would reconstruct more
from less and weaken the signal that trains P.
"""

from __future__ import annotations

import torch
from torch import nn

from refusion_core.models.blocks import RestormerBlock, conv3x3

ARCH_VERSION = "refusion-r-1"


class ReconstructionBranch(nn.Module):
    """(B, 1, H, W) fused luminance -> (B, 1, H, W) one source, in (0, 1)."""

    def __init__(self, dim: int = 16, heads: int = 8, blocks: int = 1):
        super().__init__()
        self.project_in = conv3x3(1, dim)
        self.body = nn.Sequential(*[RestormerBlock(dim, heads) for _ in range(blocks)])
        self.project_out = conv3x3(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.project_out(self.body(self.project_in(x))))


class ReconstructionNet(nn.Module):
    """R(If) -> (Îa, Îb), each (B, 1, H, W) in (0, 1), from If (B, 1, H, W) in [0, 1]."""

    def __init__(self, dim: int = 16, heads: int = 8, blocks: int = 1):
        super().__init__()
        self.dim, self.heads, self.blocks = dim, heads, blocks
        self.branch_a = ReconstructionBranch(dim, heads, blocks)
        self.branch_b = ReconstructionBranch(dim, heads, blocks)

    def forward(self, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.branch_a(fused), self.branch_b(fused)
