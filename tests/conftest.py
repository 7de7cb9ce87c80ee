"""Shared fixtures: ../shared (skipped with a reason where absent), tiny image pairs on disk."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

# the CLI and the app log to a file in the user log folder: keep the tests' logs out of the real one
os.environ.setdefault("REFUSION_LOG_DIR", tempfile.mkdtemp(prefix="refusion-test-logs-"))


def _shared() -> Path | None:
    cand = Path(os.environ.get("REFUSION_SHARED", REPO.parent / "shared"))
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    d = _shared()
    if d is None:
        pytest.skip("../shared (benchmark data, released checkpoints) is not beside the checkout")
    return d


@pytest.fixture(scope="session")
def repo_module():
    """``repo_module("scripts", "make_samples")`` -> scripts/make_samples.py as a module, loaded once by path
    (scripts/ is no package, and ``packaging`` is also a PyPI package's name)."""
    def load(folder: str, name: str):
        key = f"refusion_{folder}_{name}"
        if key not in sys.modules:
            spec = importlib.util.spec_from_file_location(key, REPO / folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            spec.loader.exec_module(module)
        return sys.modules[key]
    return load


@pytest.fixture(scope="session")
def anchors_dir(shared_dir) -> Path:
    d = shared_dir / "anchors" / "refusion_official"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture, float32 (h, w) in [0, 1]."""
    import cv2

    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    x = (x - x.min()) / (x.max() - x.min() + 1e-9)
    return x.astype(np.float32)


def write_pairs(root: Path, n: int = 4) -> tuple[Path, Path]:
    """``root``/A and ``root``/B with ``n`` registered pairs (grey A, RGB B, 48 × 56), matched by stem."""
    from refusion_core.io.images import from_float, write_image

    da, db = root / "A", root / "B"
    for i in range(n):
        write_image(da / f"p{i}.png", from_float(textured(48, 56, seed=i)))
        write_image(db / f"p{i}.png", from_float(np.dstack([textured(48, 56, seed=10 + i + k) for k in range(3)])))
    return da, db


@pytest.fixture
def pair_dirs(tmp_path) -> tuple[Path, Path]:
    """Two folders with 4 registered pairs (grey A, RGB B), matched by stem."""
    return write_pairs(tmp_path)


def run_all(trainer, stop_after=None) -> list:
    """Every event of ``trainer.run()``; with ``stop_after``, a stop is asked once that step has been reported."""
    events = []
    for ev in trainer.run():
        events.append(ev)
        if stop_after is not None and ev.kind == "step" and ev.step == stop_after:
            trainer.request_stop()
    return events
