"""Fusing a registered pair with a loaded model.

F runs on the luminance (Y) of both sources; chroma is fused by Eq. 15 (:mod:`refusion_core.colour`);
the result goes back to the inputs' colour space (grey if both are grey, else RGB) and bit depth (16 if
either input is 16-bit). P's four maps come along when the model has P. Output stretching (min-max of Y,
as the authors' script does) is an option, off by default, so that the raw output of F is what you get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .checkpoint import ModelBundle
from .colour import fuse_chroma, merge_ycrcb, split_ycrcb
from .devices import resolve_device
from .imageio import check_pair, from_float, to_float
from .models import MAP_NAMES

Progress = Callable[[int, int], None]


@dataclass
class FuseResult:
    """fused: (H, W) or (H, W, 3) RGB, uint8/uint16; fused_y: float32 (H, W) in [0, 1];
    maps: wa, wb, va, vb -> float32 (H, W) in [0, 1] (empty without P)."""

    fused: np.ndarray
    fused_y: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)


class Fuser:
    """Runs a :class:`ModelBundle` on a device. ``device="auto"`` picks CUDA when usable."""

    def __init__(self, bundle: ModelBundle, device: str | torch.device = "auto"):
        self.device = resolve_device(device)
        self.bundle = bundle.to(self.device)
        for m in bundle.modules().values():
            m.eval()

    def fuse(self, a: np.ndarray, b: np.ndarray, stretch: bool = False,
             progress: Progress | None = None, maps: bool = True) -> FuseResult:
        """Fuse two registered images (grey or RGB, uint8/uint16/float [0, 1]) of the same size."""
        check_pair(a, b)
        ya, ca = split_ycrcb(to_float(a))
        yb, cb = split_ycrcb(to_float(b))
        fused_y, fmaps = self.fuse_luminance(ya, yb, maps=maps)
        if stretch:
            lo, hi = float(fused_y.min()), float(fused_y.max())
            fused_y = (fused_y - lo) / max(hi - lo, 1e-12)
        if progress:
            progress(1, 1)
        rgb01 = merge_ycrcb(fused_y, fuse_chroma(ca, cb))
        dtype = np.uint16 if np.uint16 in (a.dtype, b.dtype) else np.uint8
        return FuseResult(from_float(rgb01, dtype), fused_y.astype(np.float32), fmaps)

    @torch.inference_mode()
    def fuse_luminance(self, ya: np.ndarray, yb: np.ndarray, maps: bool = True
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """F on two float32 (H, W) luminance images in [0, 1] -> (fused (H, W), maps)."""
        x = torch.from_numpy(np.stack([ya, yb])[None]).to(self.device, torch.float32)  # (1, 2, H, W)
        fused = self.bundle.fusion(x)[0, 0].float().cpu().numpy()
        out = {}
        if maps and self.bundle.proposal is not None:
            m = self.bundle.proposal(x[:, :1], x[:, 1:2])[0].float().cpu().numpy()  # (4, H, W)
            out = {name: m[i] for i, name in enumerate(MAP_NAMES)}
        return fused, out
