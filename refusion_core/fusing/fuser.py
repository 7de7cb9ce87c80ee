"""Fusing a registered pair with a loaded model.

F runs on the luminance (Y) of both sources; chroma is fused by Eq. 15 (:mod:`refusion_core.fusing.colour`);
the result goes back to the inputs' colour space (grey if both are grey, else RGB) and bit depth (16 if
either input is 16-bit). P's four maps come along when the model has P. Output stretching (min-max of Y,
as the authors' script does) is an option, off by default, so that the raw output of F is what you get.

F and P run on the fast path (:mod:`refusion_core.fusing.fast`): exact, tile by tile, with their global channel
attention accumulated over tiles. Images whose activations fit ``stream_budget`` bytes keep them between
stages (``"checkpoint"``); larger ones recompute them from the input (``"recompute"``), so that memory stays
a few hundred MB above the images themselves whatever their size. P's maps get the same exact treatment
(full resolution, no downscaling). ``engine="reference"`` runs the plain modules on the whole image instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from refusion_core.devices import resolve_device
from refusion_core.fusing.colour import luminance, recolour
from refusion_core.fusing.fast import fusion_stages, prior_logits, proposal_stages, symmetric_maps
from refusion_core.fusing.tiling import Ticker, TilePlan, default_plan, evaluate, job_count, stream_bytes
from refusion_core.io.images import check_pair
from refusion_core.models import MAP_NAMES
from refusion_core.models.checkpoint import ModelBundle

Progress = Callable[[int, int], None]

STREAM_BUDGET = 1 << 30  # bytes of F's between-stage activations kept in memory (1 GiB: about 8 MP)
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class FuseResult:
    """fused: (H, W) or (H, W, 3) RGB, uint8/uint16; fused_y: float32 (H, W) in [0, 1];
    maps: wa, wb, va, vb -> float32 (H, W) in [0, 1] (empty without P)."""

    fused: np.ndarray
    fused_y: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)


class Fuser:
    """Runs a :class:`ModelBundle` on a device. ``device="auto"`` picks CUDA when usable.

    Keyword options: ``engine`` "fast" (default) or "reference" (the plain modules, whole image);
    ``precision`` "fp32" (default) or "fp16"/"bf16" (autocast; meant for CUDA, about 1e-2 from fp32);
    ``plan`` a :class:`TilePlan` (tile sizes, threads; default: :func:`default_plan` for the device and
    schedule); ``stream_budget`` bytes above which the memory-lean recompute schedule is used.
    """

    def __init__(self, bundle: ModelBundle, device: str | torch.device = "auto", *, engine: str = "fast",
                 precision: str = "fp32", plan: TilePlan | None = None, stream_budget: int = STREAM_BUDGET):
        if engine not in ("fast", "reference"):
            raise ValueError(f"engine must be 'fast' or 'reference', not {engine!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, not {precision!r}")
        self.device = resolve_device(device)
        self.bundle = bundle.to(self.device)
        for m in bundle.modules().values():
            m.eval()
        self.engine, self.precision = engine, precision
        self.plan = plan  # None: default_plan(device, schedule)
        self.stream_budget = stream_budget

    def fuse(self, a: np.ndarray, b: np.ndarray, stretch: bool = False,
             progress: Progress | None = None, maps: bool = True) -> FuseResult:
        """Fuse two registered images (grey or RGB, uint8/uint16/float [0, 1]) of the same size.

        ``progress(done, total)`` is called as tiles finish."""
        check_pair(a, b)
        fused_y, fmaps = self.fuse_luminance(luminance(a), luminance(b), maps=maps, progress=progress)
        if stretch:
            lo, hi = float(fused_y.min()), float(fused_y.max())
            fused_y = ((fused_y - lo) / max(hi - lo, 1e-12)).astype(np.float32)
        return FuseResult(recolour([a, b], fused_y), fused_y, fmaps)

    def schedule(self, height: int, width: int) -> str:
        """"checkpoint" when F's stream fits ``stream_budget``, else "recompute"."""
        f = self.bundle.fusion
        plan = self.plan or default_plan(self.device, "checkpoint", height)
        need = stream_bytes(height, width, 2 * f.dim, _sweep_halo(fusion_stages(f)), plan)
        return "checkpoint" if need <= self.stream_budget else "recompute"

    @torch.inference_mode()
    def fuse_luminance(self, ya: np.ndarray, yb: np.ndarray, maps: bool = True,
                       progress: Progress | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """F on two float32 (H, W) luminance images in [0, 1] -> (fused (H, W), maps)."""
        p = self.bundle.proposal if maps else None
        if self.engine == "reference":
            fused, m = self._reference(ya, yb, p)
            if progress:
                progress(1, 1)
        else:
            fused, m = self._fast(ya, yb, p, progress)
        return fused, ({} if m is None else {name: m[i] for i, name in enumerate(MAP_NAMES)})

    def _reference(self, ya, yb, p):
        x = torch.from_numpy(np.stack([ya, yb])[None]).to(self.device, torch.float32)  # (1, 2, H, W)
        with _autocast(self.device, PRECISIONS[self.precision]):
            fused = self.bundle.fusion(x)[0, 0].float().cpu().numpy()
            m = None if p is None else p(x[:, :1], x[:, 1:2])[0].float().cpu().numpy()  # (4, H, W)
        return fused, m

    def _fast(self, ya, yb, p, progress):
        h, w = ya.shape
        x = torch.from_numpy(np.stack([ya, yb], axis=-1)[None]).to(self.device, torch.float32)  # (1, H, W, 2)
        nets = [(fusion_stages(self.bundle.fusion), 1, 2 * self.bundle.fusion.dim, x)]
        if p is not None and p.symmetric:  # logits of [Ia, Ib] and of [Ib, Ia], combined below
            nets += [(proposal_stages(p), 2, p.dim, x), (proposal_stages(p), 2, p.dim, x.flip(-1))]
        elif p is not None:
            nets.append((proposal_stages(p), len(MAP_NAMES), p.dim, x))
        mode = self.schedule(h, w)
        plan = self.plan or default_plan(self.device, mode, h)
        ticker = Ticker(sum(job_count(len(s), h, plan) for s, _, _, _ in nets), progress)
        outs = []
        for stages, c_out, c_stream, src in nets:
            out = torch.empty((c_out, h, w), dtype=torch.float32, device=self.device)
            evaluate(stages, src, out, plan, mode, ticker, c_stream, PRECISIONS[self.precision])
            outs.append(out)
        if p is not None and p.symmetric:
            if p.has_prior:  # refusion-p-3: the prior's share of each source's logits, whole-image exact
                outs[1] += prior_logits(p, x[0, :, :, 0])
                outs[2] += prior_logits(p, x[0, :, :, 1])
            outs[1:] = [symmetric_maps(outs[1], outs[2])]
        outs = [o.cpu().numpy() for o in outs]
        return outs[0][0], (outs[1] if p is not None else None)


def _sweep_halo(stages) -> int:
    """The widest halo a checkpoint sweep reads: a stage's own plus the next one's statistics."""
    nxt = [s.stats_halo for s in stages[1:]] + [0]
    return max(s.halo + n for s, n in zip(stages, nxt))


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
