"""Fusing a stack of N >= 2 registered images with a pairwise fuser.

Strategy (default ``tree``): fuse neighbours pairwise, level by level, in a balanced binary tree —
``((1, 2), (3, 4))`` for four images; an odd image out is carried up a level unchanged. Why:

* F was trained on pairs of real source images, so every call sees an input of the kind it learned;
  fusing all N at once would need an N-input network we do not have, and P's maps cannot stand in for
  N-way fusion weights: they weight the *training loss*, F (not a weighted sum) makes the output.
* In a tree every image passes through about log2 N fusions (exactly that for N a power of two), so each
  source's detail is attenuated the same number of times. A chain ``(((1, 2), 3), 4)`` sends the first
  images through N - 1 fusions and the last through one, so the result leans to the last frames and
  depends on the order much more.
* Neighbours are fused first, so a focus stack in focus order (or an exposure bracket in EV order) pairs
  images that differ a little, which is the situation F was trained on.

``chain`` is offered for comparison. Each intermediate result is clipped to [0, 1] so that the next
fusion's input stays in the range F was trained on.

Colour: Eq. 15 generalised to N sources, ``Cf = Σ Ci |Ci − τ| / Σ |Ci − τ|`` (τ = 128; Cf = τ where every
weight is 0), computed once over all N sources (:func:`refusion_core.fusing.colour.fuse_chroma`, the last step of
every fusion, :func:`refusion_core.fusing.colour.recolour`) rather than through the tree, so that the most saturated
source wins per pixel regardless of the order. Grey sources have C = τ (weight 0) and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from refusion_core.errors import InputError
from refusion_core.fusing.colour import luminance, recolour
from refusion_core.io.images import check_pair

LuminanceFuser = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(ya, yb) -> fused``: float32 (H, W) in [0, 1] in and out."""
STRATEGIES = ("tree", "chain")


@dataclass
class StackResult:
    """fused: (H, W) or (H, W, 3) RGB, uint8 (uint16 if any input is); fused_y: float32 (H, W) in [0, 1]."""

    fused: np.ndarray
    fused_y: np.ndarray


def as_luminance_fuser(fuser) -> LuminanceFuser:
    """A :class:`refusion_core.fusing.fuser.Fuser` (its ``fuse_luminance``, no maps) or any callable
    ``(ya, yb) -> fused`` such as :func:`refusion_core.fusing.baselines.laplacian_pyramid`."""
    if hasattr(fuser, "fuse_luminance"):
        return lambda ya, yb: fuser.fuse_luminance(ya, yb, maps=False)[0]
    if callable(fuser):
        return fuser
    raise TypeError(f"Expected a Fuser or a callable (ya, yb) -> fused, got {type(fuser).__name__}")


def fuse_luminance_stack(fuse: LuminanceFuser, ys: Sequence[np.ndarray], strategy: str = "tree",
                         progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Fuse N float32 (H, W) luminance images in [0, 1] with N - 1 pairwise fusions -> float32 (H, W)."""
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown stack strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if len(ys) < 2:
        raise InputError(f"Fusion needs at least 2 images, got {len(ys)}")
    done, total = 0, len(ys) - 1

    def pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        nonlocal done
        out = np.clip(np.asarray(fuse(a, b), np.float32), 0.0, 1.0)
        done += 1
        if progress:
            progress(done, total)
        return out

    level = [np.asarray(y, np.float32) for y in ys]
    if strategy == "chain":
        acc = level[0]
        for y in level[1:]:
            acc = pair(acc, y)
        return acc
    while len(level) > 1:
        nxt = [pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = nxt + level[len(nxt) * 2:]  # the odd one out moves up unchanged
    return level[0]


def fuse_stack(fuser, images: Sequence[np.ndarray], strategy: str = "tree", stretch: bool = False,
               names: Sequence[str] | None = None,
               progress: Callable[[int, int], None] | None = None) -> StackResult:
    """Fuse N >= 2 registered images of one size.

    Args:
        fuser: a ``Fuser`` or a pairwise luminance fuser (see :func:`as_luminance_fuser`).
        images: (H, W) grey or (H, W, 3) RGB; uint8, uint16 or float in [0, 1]; all the same H×W.
        strategy: ``tree`` (default, see the module docstring) or ``chain``.
        stretch: min-max stretch the fused luminance (as ``Fuser.fuse(stretch=True)``).
        names: for the size-mismatch error.
        progress: ``progress(done, total)`` after each of the N - 1 pairwise fusions.

    Returns:
        :class:`StackResult`: grey if every input is grey, else RGB; uint16 if any input is uint16.
    """
    names = list(names) if names else [f"image {i + 1}" for i in range(len(images))]
    for img, name in zip(images[1:], names[1:]):
        check_pair(images[0], img, (names[0], name))
    y = fuse_luminance_stack(as_luminance_fuser(fuser), [luminance(img) for img in images], strategy, progress)
    if stretch:
        y = (y - y.min()) / max(float(y.max() - y.min()), 1e-12)
    y = y.astype(np.float32)
    return StackResult(recolour(images, y), y)
