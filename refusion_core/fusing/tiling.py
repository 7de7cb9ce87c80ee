"""Exact tile-wise evaluation of networks whose only global operation is Restormer's channel attention.

Restormer's attention is global over pixels, but only through small sums: softmax(t · q̂ k̂ᵀ) needs Σ q kᵀ
and the per-channel Σ q², Σ k² over all pixels, a few hundred numbers per layer. Everything else (1×1
and 3×3 convolutions, layer norm over channels, GELU) is local. So a network is written as a list of
**stages** separated by **sync points**: stage k can run anywhere once the statistics of its q and k,
summed over the whole image, are known. We accumulate those sums tile by tile, then apply the stage
tile by tile. The result equals the whole-image computation up to float rounding (no blending, no seams).

Two schedules, chosen by memory:

- ``"checkpoint"``: the activations between stages (the *stream*, e.g. 32 channels for F) are kept in
  one buffer, updated in place sweep by sweep; every stage runs once. Memory: the stream,
  ``4·C·H·W`` bytes plus a few saved rows at strip borders.
- ``"recompute"``: nothing but the input is kept; pass k recomputes stages 0..k-1 from the input to get
  stage k's statistics. Memory is a few tiles, whatever the image size; the cost is about
  Σₖ cost(stages < k), roughly 2–3× one forward pass for F.

A tile reads its input with ``halo`` extra pixels on each side (the number of 3×3 convolutions it goes
through). Values near a cut edge come out wrong (the convolution pads there with zeros), but the error moves
inwards one pixel per 3×3 convolution, so the core of the tile is exact; at the image border the zero
padding is the true one. Each step of a stage (one 3×3 convolution deep) computes on what is still valid
and, at the end, only the core is kept.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import torch

STREAM_BYTES = 4  # the stream is kept in float32


class Stage(Protocol):
    """One stage of a network between two sync points; tensors are NHWC (1, h, w, C) tiles."""

    halo: int  # 3×3 convolutions on the way from input to output
    stats_halo: int  # 3×3 convolutions on the way from input to the q, k of stats() (0: no statistics)

    def stats(self, x: torch.Tensor, core: tuple[slice, slice]) -> torch.Tensor:
        """Float64 partial sums over the ``core`` pixels (rows, cols of x) of this stage's attention."""

    def finish(self, total: torch.Tensor) -> object:
        """Whole-image sums -> the context steps() need (the attention's mixing matrices)."""

    def steps(self, ctx: object) -> list[tuple[int, Callable[[torch.Tensor], torch.Tensor]]]:
        """The stage as a sequence of (halo, step): each step maps a tile (1, h, w, C) to (1, h, w, C'),
        valid ``halo`` pixels less far in from cut edges than its input (the halos add up to ``halo``).
        Steps may overwrite their input (the runner hands them tiles they own). Between steps the runner
        crops what became invalid, so that later steps do not compute it."""


@dataclass(frozen=True)
class TilePlan:
    """How to cut an image: strips of ``rows`` rows (work items, run by ``workers`` threads), each cut
    into tiles of ``cols`` columns. ``workers`` > 1 runs strips in parallel threads, each with one
    intra-op thread: no per-operation barrier between cores, which matters most on a shared CPU."""

    rows: int = 32
    cols: int = 128
    workers: int = 1

    def strips(self, height: int) -> list[tuple[int, int]]:
        return [(r, min(r + self.rows, height)) for r in range(0, height, self.rows)]

    def tiles(self, width: int) -> list[tuple[int, int]]:
        return [(c, min(c + self.cols, width)) for c in range(0, width, self.cols)]


def default_plan(device: torch.device, mode: str = "checkpoint", height: int | None = None) -> TilePlan:
    """Big strips on a GPU. On the CPU one thread per core and cache-sized tiles; larger ones for the
    recompute schedule, whose halo is wider. Measured on a 2-core AVX-512 VM (interleaved runs): at 1 MP
    64×128 tiles took 2.60–2.80 s against 3.05–3.18 s for 32×128; below ~0.6 MP (``height`` under 768
    rows) 32-row strips win (0.76 s against 0.89 s at 512²: more strips to share between the workers)."""
    if device.type == "cuda":
        return TilePlan(rows=1024, cols=1 << 30, workers=1)
    if mode == "checkpoint":
        rows, cols = (32, 128) if height is not None and height < SMALL_HEIGHT else (64, 128)
    else:
        rows, cols = 64, 256
    return TilePlan(rows=rows, cols=cols, workers=max(1, torch.get_num_threads()))


SMALL_HEIGHT = 768


def stream_bytes(height: int, width: int, channels: int, halo: int, plan: TilePlan) -> int:
    """Bytes the checkpoint schedule holds for its stream: the buffer plus rows saved at strip borders."""
    saved_rows = 2 * halo * max(0, len(plan.strips(height)) - 1)
    return STREAM_BYTES * channels * width * (height + saved_rows)


def job_count(n_stages: int, height: int, plan: TilePlan) -> int:
    """Work items of one evaluation (the same for both schedules): one per stage and strip."""
    return n_stages * len(plan.strips(height))


class Ticker:
    """Counts finished work items and reports ``progress(done, total)``."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None):
        self.total, self.done, self.progress = total, 0, progress

    def tick(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)


def evaluate(stages: Sequence[Stage], x: torch.Tensor, out: torch.Tensor, plan: TilePlan,
             mode: str = "checkpoint", ticker: Ticker | None = None, stream_channels: int = 0,
             autocast: torch.dtype | None = None) -> torch.Tensor:
    """Run ``stages`` on the whole image ``x`` exactly, tile by tile.

    Args:
        x: (1, H, W, C_in) NHWC input (read only).
        out: (C_out, H, W) buffer for the result, written tile by tile.
        mode: "checkpoint" or "recompute" (see the module docstring).
        stream_channels: width of the activations between stages (checkpoint mode).
        autocast: a half dtype to run the stages in (statistics stay in float64/float32).
    Returns:
        ``out``.
    """
    if mode not in ("checkpoint", "recompute"):
        raise ValueError(f"mode must be 'checkpoint' or 'recompute', not {mode!r}")
    runner = _Runner(plan, ticker or Ticker(0, None), autocast)
    n = len(stages)
    ctx: list[object] = [None] * n
    if mode == "recompute":
        for k in range(1, n + 1):
            chain = [(s, ctx[j]) for j, s in enumerate(stages[:k])]
            nxt = stages[k] if k < n else None
            partials = runner.sweep(x, chain, nxt, out if nxt is None else None)
            if nxt is not None:
                ctx[k] = nxt.finish(_total(partials))
        return out
    stream = torch.empty((1, x.shape[1], x.shape[2], stream_channels), dtype=torch.float32, device=x.device)
    for k, stage in enumerate(stages):
        nxt = stages[k + 1] if k + 1 < n else None
        src = x if k == 0 else stream
        partials = runner.sweep(src, [(stage, ctx[k])], nxt, stream if nxt is not None else out)
        if nxt is not None:
            ctx[k + 1] = nxt.finish(_total(partials))
    return out


def _total(partials: list[torch.Tensor]) -> torch.Tensor:
    total = partials[0].clone()
    for p in partials[1:]:  # in strip order: the same sum whatever order the threads finished in
        total += p
    return total


class _Runner:
    """Runs one sweep (a chain of stages, then statistics or a write) over all strips."""

    def __init__(self, plan: TilePlan, ticker: Ticker, autocast: torch.dtype | None):
        self.plan, self.ticker, self.autocast = plan, ticker, autocast

    def sweep(self, src, chain, nxt, sink) -> list[torch.Tensor | None]:
        """src (1, H, W, C) is read with a halo; where it is also the sink, strip borders are saved first."""
        height = src.shape[1]
        halo = sum(s.halo for s, _ in chain) + (nxt.stats_halo if nxt is not None else 0)
        saves = _save_borders(src, self.plan.strips(height), halo) if sink is src else None
        jobs = [(r0, r1) for r0, r1 in self.plan.strips(height)]
        run = lambda r: self._strip(src, saves, r[0], r[1], halo, chain, nxt, sink)  # noqa: E731
        return _map_ordered(run, jobs, self.plan.workers, self.ticker.tick)

    def _strip(self, src, saves, r0, r1, halo, chain, nxt, sink):
        device = src.device.type
        amp = (torch.autocast(device, dtype=self.autocast) if self.autocast is not None
               else contextlib.nullcontext())
        with torch.inference_mode(), amp:
            parts, top = _read_rows(src, saves, r0, r1, halo)  # row ranges of (1, ·, W, C)
            steps = [st for stage, ctx in chain for st in stage.steps(ctx)]
            partial, done = None, []
            for c0, c1 in self.plan.tiles(src.shape[2]):
                left = max(c0 - halo, 0)
                cols = slice(left, min(c1 + halo, src.shape[2]))
                x = torch.cat([p[:, :, cols] for p in parts], dim=1)  # one copy: the tile, ours to overwrite
                at, lost = (top, left), 0  # image position of x's first pixel; rim invalid so far
                for halo_i, step in steps:
                    if lost:  # drop the invalid rim: later steps need not compute it
                        x, at = _shrink(x, at, lost, src.shape[1:3])
                    x, lost = step(x), halo_i
                core = (slice(r0 - at[0], r1 - at[0]), slice(c0 - at[1], c1 - at[1]))
                if nxt is not None:
                    p = nxt.stats(x, core)
                    partial = p if partial is None else partial + p
                if sink is not None:
                    done.append((x[:, core[0], core[1]], c0, c1))
            for y, c0, c1 in done:  # after all reads of the strip: the sink may be src (read as views)
                _write(sink, y, r0, r1, c0, c1)
        return partial


def _shrink(x: torch.Tensor, at: tuple[int, int], by: int, size) -> tuple[torch.Tensor, tuple[int, int]]:
    """Crop ``by`` pixels off x's sides that are cut edges (not the image border); x (1, h, w, C) at ``at``."""
    (top, left), (h, w), (height, width) = at, x.shape[1:3], size
    a, b = (by if top > 0 else 0), (h - by if top + h < height else h)
    c, d = (by if left > 0 else 0), (w - by if left + w < width else w)
    return x[:, a:b, c:d].contiguous(), (top + a, left + c)


def _save_borders(src: torch.Tensor, strips, halo: int) -> dict[int, tuple[int, torch.Tensor]]:
    """Copies of rows [b − halo, b + halo) at every inner strip border b, taken before a sweep writes."""
    height = src.shape[1]
    saves = {}
    for r0, _ in strips[1:]:
        a, b = max(r0 - halo, 0), min(r0 + halo, height)
        saves[r0] = (a, src[:, a:b].clone())
    return saves


def _read_rows(src, saves, r0, r1, halo) -> tuple[list[torch.Tensor], int]:
    """Rows [r0 − halo, r1 + halo) ∩ image of src as views of consecutive row ranges, and the first row;
    the rows outside [r0, r1) come from ``saves`` (their values before the sweep began) where given."""
    height = src.shape[1]
    a, b = max(r0 - halo, 0), min(r1 + halo, height)
    if saves is None:
        return [src[:, a:b]], a
    parts = []
    if a < r0:
        s0, rows = saves[r0]
        parts.append(rows[:, a - s0:r0 - s0])
    parts.append(src[:, r0:r1])
    if r1 < b:
        s0, rows = saves[r1]
        parts.append(rows[:, r1 - s0:b - s0])
    return parts, a


def _write(sink: torch.Tensor, core: torch.Tensor, r0, r1, c0, c1) -> None:
    """core (1, h, w, C) into the stream (1, H, W, C) or into the output planes (C, H, W)."""
    if sink.dim() == 4:
        sink[:, r0:r1, c0:c1] = core
    else:
        sink[:, r0:r1, c0:c1] = core[0].permute(2, 0, 1)


def _map_ordered(fn, items, workers: int, tick) -> list:
    """[fn(i) for i in items], on ``workers`` threads (one intra-op thread each), ticking as each ends."""
    if workers <= 1:
        results = []
        for item in items:
            results.append(fn(item))
            tick()
        return results
    caller_threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
    try:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        results = [None] * len(items)
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            tick()
        return results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(caller_threads)  # the setting new threads inherit
