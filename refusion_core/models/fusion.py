"""F, the fusion module of ReFusion: If = F(Ia, Ib).

The function is the one the authors' released checkpoints compute (59,856 parameters at C = 16):
per-source conv3 + two Restormer blocks, the Adaptive Fusion Module (cross attention, concatenation,
gated refinement), two Restormer blocks at width 2C, conv3 -> leaky ReLU(0.01) -> conv3 -> sigmoid.
Attribute names follow the released tensor names so their checkpoints load after de-duplication
(see :mod:`refusion_core.models.checkpoint`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from torch import nn

from refusion_core.models.blocks import RestormerBlock, channel_attention, conv1x1, conv3x3, dwconv3x3

ARCH_VERSION = "refusion-f-1"


class AdaptiveFusionModule(nn.Module):
    """AFM(x1, x2): cross attention between the two branches, concat, gated refinement.

    Args of forward: x1, x2 (B, C, H, W). Returns (B, 2C, H, W).
    """

    def __init__(self, dim: int, heads: int = 8):
        super().__init__()
        self.heads = heads
        self.temperature1 = nn.Parameter(torch.ones(heads, 1, 1))
        self.temperature2 = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv1, self.qkv1_dwconv = conv1x1(dim, 3 * dim), dwconv3x3(3 * dim)
        self.qkv2, self.qkv2_dwconv = conv1x1(dim, 3 * dim), dwconv3x3(3 * dim)
        self.project_mid1 = conv1x1(dim, dim)
        self.project_mid2 = conv1x1(dim, dim)
        self.project_E, self.project_E_d = conv1x1(2 * dim, 8 * dim), dwconv3x3(8 * dim)
        self.project_E1, self.project_E1_d = conv1x1(dim, 4 * dim), dwconv3x3(4 * dim)
        self.project_E2, self.project_E2_d = conv1x1(dim, 4 * dim), dwconv3x3(4 * dim)
        self.project_out1 = conv1x1(4 * dim, 2 * dim)
        self.project_out2 = conv1x1(4 * dim, 2 * dim)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        q1, k1, v1 = self.qkv1_dwconv(self.qkv1(x1)).chunk(3, dim=1)  # 3 × (B, C, H, W)
        q2, k2, v2 = self.qkv2_dwconv(self.qkv2(x2)).chunk(3, dim=1)
        o1 = channel_attention(q2, k1, v1, self.temperature1, self.heads)
        o2 = channel_attention(q1, k2, v2, self.temperature2, self.heads)
        x1 = x1 + self.project_mid1(o1)
        x2 = x2 + self.project_mid2(o2)
        u = torch.cat([x1, x2], dim=1)  # (B, 2C, H, W)
        g1, g2 = self.project_E_d(self.project_E(u)).chunk(2, dim=1)  # 2 × (B, 4C, H, W)
        e1 = fn.gelu(g1) * self.project_E1_d(self.project_E1(x1))
        e2 = fn.gelu(g2) * self.project_E2_d(self.project_E2(x2))
        return u + self.project_out1(e1) + self.project_out2(e2)


class FusionNet(nn.Module):
    """F(Ia, Ib) -> If.

    Args of forward:
        x: (B, 2, H, W) in [0, 1], channel 0 = Ia (luminance), channel 1 = Ib.
    Returns:
        (B, 1, H, W) in (0, 1), the fused luminance.
    """

    def __init__(self, dim: int = 16, heads: int = 8):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.project_in_1 = conv3x3(1, dim)
        self.project_in_2 = conv3x3(1, dim)
        self.encoder1 = nn.Sequential(RestormerBlock(dim, heads), RestormerBlock(dim, heads))
        self.encoder2 = nn.Sequential(RestormerBlock(dim, heads), RestormerBlock(dim, heads))
        self.FM = AdaptiveFusionModule(dim, heads)
        self.decoder = nn.Sequential(RestormerBlock(2 * dim, heads), RestormerBlock(2 * dim, heads))
        self.project_out_0 = conv3x3(2 * dim, dim)
        self.project_out_1 = conv3x3(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ia, ib = x[:, :1], x[:, 1:2]  # (B, 1, H, W) each
        x1 = self.encoder1(self.project_in_1(ia))
        x2 = self.encoder2(self.project_in_2(ib))
        u = self.decoder(self.FM(x1, x2))  # (B, 2C, H, W)
        u = fn.leaky_relu(self.project_out_0(u), 0.01)
        return torch.sigmoid(self.project_out_1(u))
