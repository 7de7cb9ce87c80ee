"""Training pairs: finding them (folders matched by stem, a manifest's train split), loading them as
luminance, and drawing random crops with a generator whose state can be saved (exact resume)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from refusion_core.errors import InputError
from refusion_core.fusing.colour import split_ycrcb
from refusion_core.io.images import IMAGE_SUFFIXES, check_pair, read_image, to_float

Pair = tuple[Path, Path]

# The benchmark set of each task in ../shared/datasets/manifest.json (training, evaluation and benchmarks use it)
BENCHMARK_SETS = {"ivif": "ivif/roadscene", "mif": "mif/harvard", "mfif": "mfif/mfifb", "meif": "meif/mefb"}


def pairs_from_dirs(dir_a: str | os.PathLike, dir_b: str | os.PathLike) -> list[Pair]:
    """Pairs of images in two folders with the same file stem, sorted by stem."""
    maps = []
    for d in (Path(dir_a), Path(dir_b)):
        if not d.is_dir():
            raise InputError(f"Folder not found: {d}")
        maps.append({p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES})
    stems = sorted(set(maps[0]) & set(maps[1]))
    if not stems:
        raise InputError(f"No images with matching names in {dir_a} and {dir_b}")
    return [(maps[0][s], maps[1][s]) for s in stems]


def pairs_from_manifest(manifest: str | os.PathLike, name: str, split: str = "train") -> list[Pair]:
    """The pairs of set ``name`` (e.g. "ivif/roadscene" or "roadscene") in ``split`` of a manifest."""
    manifest = Path(manifest)
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"Cannot read manifest {manifest}: {err}") from None
    sets = data.get("sets", data) if isinstance(data, dict) else None
    if not isinstance(sets, dict):
        raise InputError(f"{manifest.name} is not a manifest of image pairs (no sets)")
    key = next((k for k in sets if k == name or k.split("/")[-1] == name), None)
    if key is None:
        raise InputError(f"Set {name!r} is not in {manifest.name}; it has: {', '.join(map(str, sets))}")
    root = manifest.parent
    try:
        pairs = [(root / p["a"], root / p["b"]) for p in sets[key]["pairs"] if p.get("split") == split]
    except (KeyError, TypeError, AttributeError):
        raise InputError(f"Set {name!r} of manifest {manifest.name} is not a list of pairs "
                         '{"a": path, "b": path, "split": ...}') from None
    if not pairs:
        raise InputError(f"Set {name!r} has no pairs in split {split!r}")
    return pairs


def holdout(pairs: list[Pair], n: int) -> tuple[list[Pair], list[Pair]]:
    """Split ``pairs`` into (training, validation) with ``n`` validation pairs spread evenly over the list
    (indices floor((i + 1/2)·len/n)), so that choosing between trained candidates can be done on pairs that
    training never saw, without touching a test split. Deterministic: the same pairs and ``n`` always give
    the same split, so ``refusion train --holdout N`` and ``refusion eval --split holdout --holdout N`` agree.
    At least 2 pairs stay for training (the meta-train and meta-test halves)."""
    if n == 0:
        return list(pairs), []
    if not 0 < n <= len(pairs) - 2:
        raise InputError(f"--holdout {n}: choose from 1 to {len(pairs) - 2} for these {len(pairs)} pairs "
                         "(at least 2 must stay for training)")
    val = {int((i + 0.5) * len(pairs) / n) for i in range(n)}
    return ([p for i, p in enumerate(pairs) if i not in val], [p for i, p in enumerate(pairs) if i in val])


def load_luminance_pair(pa: Path, pb: Path, max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a registered pair -> two float32 (H, W) luminance images in [0, 1].

    With ``max_side``, pairs whose longer side exceeds it are downscaled (area interpolation) so that
    training crops see scene structure rather than only pixel-level texture, and so that a folder of
    large photographs fits in memory.
    """
    a, b = read_image(pa), read_image(pb)
    check_pair(a, b, (pa.name, pb.name))
    ya, yb = split_ycrcb(to_float(a))[0], split_ycrcb(to_float(b))[0]
    h, w = ya.shape
    if max_side and max(h, w) > max_side:
        size = (max(1, round(w * max_side / max(h, w))), max(1, round(h * max_side / max(h, w))))
        ya, yb = (cv2.resize(y, size, interpolation=cv2.INTER_AREA) for y in (ya, yb))
    return ya, yb


DARKEN_MIN = 0.05
"""The darkest factor of the ``darken`` augmentation: a source's white becomes 13 of 255."""

CRUSH_MAX = 0.25
"""The largest black level of the ``crush`` augmentation, as a share of the darkened crop's white."""

STRETCH_CLIP = 0.1
"""The largest share of a crop pair's pixels that the ``stretch`` augmentation clips to black, and to white."""


class CropSampler:
    """Random crops of size ``crop`` from pairs held in memory as float32 luminance.

    Images smaller than the crop are reflect-padded; a crop more than twice the largest image is refused. All randomness comes from one numpy Generator
    (``state``/``set_state`` for exact resume).

    ``rank`` (distributed training, :mod:`refusion_core.training.distributed`): rank 0 is seeded with ``seed``
    itself, as a single process is, and rank r > 0 with the seed sequence ``[seed, r]``, so that every rank draws
    its own crops and rank 0 of a distributed run draws what a single process would.

    ``darken`` (``TrainSettings.darken``): the probability that a crop pair is multiplied by one factor, the same
    for both sources, drawn log-uniformly from [``DARKEN_MIN``, 1]. At 0 (the default) no extra random numbers
    are drawn, so runs without it draw exactly the crops they drew before the option existed. ``crush``
    (``TrainSettings.crush``): the probability that a darkened crop pair also loses a black level, the same for
    both sources, drawn uniformly from [0, ``CRUSH_MAX``] times the darkening factor, its values below it becoming
    exactly 0, as a camera's dark frames do. ``swap`` (``TrainSettings.swap``): the probability that a crop pair
    comes in the order (B, A); drawn last, and only when above 0, for the same reason as ``darken``. ``stretch``
    (``TrainSettings.stretch``): the probability that a crop pair's contrast is stretched to the full range, one
    map for both sources: the pair's ``q``-quantile becomes 0 and its ``1 - q'``-quantile 1, ``q`` and ``q'`` drawn
    uniformly from [0, ``STRETCH_CLIP``], the values beyond them clipped, as an exposure that clips its shadows and
    highlights does; a pair too flat to stretch (quantiles within 1/255) is left as it is. Drawn before ``darken``
    (a stretched crop can then be darkened), and only when above 0. ``same`` (``TrainSettings.same``): the
    probability that a crop pair becomes one of its sources twice, (A, A) or (B, B) with equal odds, whose fusion
    is that source itself; drawn right after the flip, and only when above 0.
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], crop: int, seed: int = 0, rank: int = 0,
                 darken: float = 0.0, crush: float = 0.0, swap: float = 0.0, stretch: float = 0.0,
                 same: float = 0.0):
        if not pairs:
            raise InputError("No training pairs")
        largest = max(max(a.shape) for a, _ in pairs)
        if crop > 2 * largest:  # reflect padding would make crops of mostly mirrored copies, at a memory cost
            raise InputError(f"--crop {crop} is more than twice the largest training image ({largest} pixels "
                             f"on its longer side); choose a crop of at most {2 * largest}")
        for name, p in (("darken", darken), ("crush", crush), ("swap", swap), ("stretch", stretch), ("same", same)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability, not {p}")
        self.pairs, self.crop, self.darken, self.crush, self.swap = pairs, crop, darken, crush, swap
        self.stretch, self.same = stretch, same
        self.rng = np.random.default_rng(seed if rank == 0 else [seed, rank])

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    @staticmethod
    def derived_state(state: dict, rank: int) -> dict:
        """A generator state for a rank that a checkpoint has no state of (a run resumed with more ranks than it
        was saved with): seeded by four words drawn from a copy of ``state`` (rank 0's) and ``rank``, so that it
        is a function of the checkpoint and the rank alone, and differs between ranks."""
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        words = rng.integers(0, 2**32, size=4).tolist()
        return np.random.default_rng([*words, rank]).bit_generator.state

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """Two disjoint random halves of the pair indices (meta-train, meta-test)."""
        perm = self.rng.permutation(len(self.pairs))
        if len(perm) < 2:
            raise InputError("Meta-learning needs at least 2 training pairs")
        half = len(perm) // 2
        return perm[:half], perm[half:]

    def batch(self, size: int, indices: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, crop, crop) crops of A and of B from pairs drawn from ``indices`` (default all)."""
        pool = np.arange(len(self.pairs)) if indices is None else indices
        chosen = self.rng.choice(pool, size=size, replace=len(pool) < size)
        crops = [self._crop(*self.pairs[i]) for i in chosen]
        a = torch.from_numpy(np.stack([c[0] for c in crops]))[:, None]  # (B, 1, crop, crop)
        b = torch.from_numpy(np.stack([c[1] for c in crops]))[:, None]
        return a, b

    def _crop(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.crop
        h, w = a.shape
        if h < c or w < c:
            pad = ((0, max(0, c - h)), (0, max(0, c - w)))
            a, b = np.pad(a, pad, mode="reflect"), np.pad(b, pad, mode="reflect")
            h, w = a.shape
        y = int(self.rng.integers(0, h - c + 1))
        x = int(self.rng.integers(0, w - c + 1))
        sa, sb = a[y:y + c, x:x + c], b[y:y + c, x:x + c]
        if self.rng.random() < 0.5:  # horizontal flip, same for both sources
            sa, sb = sa[:, ::-1], sb[:, ::-1]
        if self.same > 0.0 and self.rng.random() < self.same:
            sa = sb = sa if self.rng.random() < 0.5 else sb
        if self.stretch > 0.0 and self.rng.random() < self.stretch:
            sa, sb = self._stretch(sa, sb)
        if self.darken > 0.0 and self.rng.random() < self.darken:
            k = np.float32(DARKEN_MIN ** self.rng.random())  # log-uniform in [DARKEN_MIN, 1]
            sa, sb = sa * k, sb * k
            if self.crush > 0.0 and self.rng.random() < self.crush:
                black = np.float32(CRUSH_MAX * self.rng.random()) * k
                sa, sb = np.maximum(sa - black, 0.0), np.maximum(sb - black, 0.0)
        if self.swap > 0.0 and self.rng.random() < self.swap:
            sa, sb = sb, sa
        return np.ascontiguousarray(sa), np.ascontiguousarray(sb)

    def _stretch(self, sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One contrast stretch of both sources, clipping up to ``STRETCH_CLIP`` of the pair at each end."""
        q_lo, q_hi = STRETCH_CLIP * self.rng.random(2)
        lo, hi = np.quantile(np.concatenate([sa.ravel(), sb.ravel()]), [q_lo, 1.0 - q_hi])
        if hi - lo < 1 / 255:
            return sa, sb
        k, lo = np.float32(1.0 / (hi - lo)), np.float32(lo)
        return np.clip((sa - lo) * k, 0.0, 1.0), np.clip((sb - lo) * k, 0.0, 1.0)
