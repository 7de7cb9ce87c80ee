"""The trainer's event records: plain floats, strings and numpy arrays, never tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("start", "step", "preview", "checkpoint", "paused", "resumed", "stopped", "done")


@dataclass
class TrainEvent:
    """One thing the trainer reports.

    kind: one of KINDS. stage: "meta" (inner + outer update) or "fuse" (the N phase), on step events.
    step: steps done so far (global); total_steps; epoch (0-based, the one in progress).
    lf, lr: the step's fusion and reconstruction losses (inner ones on meta steps); outer_lr: the
    meta-test Lr of a meta step. steps_per_s, eta_s: throughput and time left.
    maps: wa, wb, va, vb -> float32 (h, w) in [0, 1] and fused: float32 (h, w), on preview events.
    """

    kind: str
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    stage: str | None = None
    lf: float | None = None
    lr: float | None = None
    outer_lr: float | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None
    maps: dict[str, np.ndarray] | None = None
    fused: np.ndarray | None = None
    message: str = ""
    checkpoint_path: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0
