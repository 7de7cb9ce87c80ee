"""One notion of a fusion method: a learned model or a classical baseline, fused by one pipeline.

A :class:`FusionMethod` is a named luminance fuser of a kind (model or baseline) with a little provenance. Every
way of fusing in the engine and the app goes through :meth:`FusionMethod.fuse` (or, for a model with its
maps, :meth:`refusion_core.fusing.fuser.Fuser.fuse`), which both end in the same last step,
:func:`refusion_core.fusing.colour.recolour`:

    sources --Y--> fuse_y (pairwise; a balanced tree for N > 2) --clip--> [stretch] --> Eq. 15 chroma --> dtype

so a model and a baseline, a pair and a stack, the CLI, the evaluation and the app give the same numbers
for the same inputs. The classical baselines are :data:`refusion_core.fusing.baselines.BASELINES` (the one
list); their names are :data:`BASELINE_NAMES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from refusion_core.fusing.baselines import BASELINES, fuse_baseline
from refusion_core.fusing.stack import LuminanceFuser, StackResult, fuse_stack

BASELINE_NAMES = tuple(BASELINES)
"""The classical methods by name (``average``, ``laplacian``, ``mertens``), in display order."""


@dataclass
class FusionMethod:
    """A named luminance fuser. ``fuse_y(ya, yb)``: two float32 (H, W) Y in [0, 1] -> fused Y (H, W)."""

    name: str
    fuse_y: LuminanceFuser
    kind: str = "model"  # "model" or "baseline" (the app has its own richer keys, app.core.methods.MethodKey)
    info: dict = field(default_factory=dict)

    def fuse(self, images: Sequence[np.ndarray], strategy: str = "tree", stretch: bool = False,
             names: Sequence[str] | None = None, progress: Callable[[int, int], None] | None = None) -> StackResult:
        """Fuse N >= 2 registered images (a pair is N = 2) -> :class:`StackResult` (the image as it would be
        saved, uint8/uint16, grey or RGB; and the fused Y)."""
        return fuse_stack(self.fuse_y, images, strategy=strategy, stretch=stretch, names=names, progress=progress)


def baseline_method(name: str) -> FusionMethod:
    """A classical method of :data:`BASELINE_NAMES` (ValueError for another name)."""
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline {name!r}; choose one of: {', '.join(BASELINE_NAMES)}.")
    return FusionMethod(name, lambda ya, yb: fuse_baseline(name, ya, yb), "baseline", {"baseline": name})


def model_method(path: str | Path | None, task: str, device="auto", name: str | None = None,
                 bundle=None) -> FusionMethod:
    """A model as a method: a file (``path=None``: the task's default weights) or an already loaded
    :class:`~refusion_core.models.checkpoint.ModelBundle` (``bundle``), run by a
    :class:`~refusion_core.fusing.fuser.Fuser` on ``device``, raw output, no maps."""
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model

    bundle = bundle if bundle is not None else load_model(path, task)
    fuser = Fuser(bundle, device)
    label = name or (Path(path).stem if path is not None else f"default {task}")
    return FusionMethod(label, lambda ya, yb: fuser.fuse_luminance(ya, yb, maps=False)[0],
                        "model", {"weights": str(path), "sha256": bundle.sha256, "device": str(fuser.device)})
