"""ReFusion's losses (PAPER.md, Eq. 1–6) and the Sobel gradient they use.

All images are (B, 1, H, W) luminance in [0, 1]; losses are means over pixels and over the batch.
"""

from __future__ import annotations

import torch

from refusion_core.models.blocks import sobel_magnitude


def fusion_loss(fused: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor, maps: torch.Tensor,
                alpha1: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Learnable fusion loss Lf = Lf_int + α1 · Lf_grad (Eq. 1–3).

    Args:
        fused, ia, ib: (B, 1, H, W).
        maps: (B, 4, H, W) = wa, wb, va, vb from P.
    Returns:
        (Lf, {"int": Lf_int, "grad": Lf_grad}), scalars.
    """
    wa, wb, va, vb = maps.split(1, dim=1)
    gf, ga, gb = sobel_magnitude(torch.cat([fused, ia, ib], dim=1)).split(1, dim=1)  # 3 × (B, 1, H, W)
    l_int = (wa * (ia - fused) ** 2 + wb * (ib - fused) ** 2).mean()
    l_grad = (va * (ga - gf) ** 2 + vb * (gb - gf) ** 2).mean()
    return l_int + alpha1 * l_grad, {"int": l_int, "grad": l_grad}


def reconstruction_loss(rec_a: torch.Tensor, rec_b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor,
                        alpha2: float = 1.0, reduce: str = "max"
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Reconstruction loss Lr = Lr_int + α2 · Lr_grad with a per-pixel max over sources (Eq. 4–6).

    Args:
        rec_a, rec_b: (B, 1, H, W) reconstructions Îa, Îb.
        ia, ib: (B, 1, H, W) sources.
        reduce: "max" (the paper) or "sum" (ablation IV).
    Returns:
        (Lr, {"int": Lr_int, "grad": Lr_grad}), scalars.
    """
    if reduce not in ("max", "sum"):
        raise ValueError(f"reduce must be 'max' or 'sum', not {reduce!r}")
    combine = torch.maximum if reduce == "max" else torch.add
    e_int = combine((ia - rec_a) ** 2, (ib - rec_b) ** 2)
    ga, gra, gb, grb = sobel_magnitude(torch.cat([ia, rec_a, ib, rec_b], dim=1)).split(1, dim=1)  # 4 × (B, 1, H, W)
    e_grad = combine((ga - gra) ** 2, (gb - grb) ** 2)
    l_int, l_grad = e_int.mean(), e_grad.mean()
    return l_int + alpha2 * l_grad, {"int": l_int, "grad": l_grad}
