"""The dark-lift probe: exact for methods that scale with their input, the offset of one that lifts, and the
shipped defaults keeping dark pairs dark (refusion_core.metrics.response)."""

import cv2
import numpy as np
import pytest

from refusion_core import TASKS
from refusion_core.fusing.baselines import average, laplacian_pyramid
from refusion_core.fusing.stack import as_luminance_fuser
from refusion_core.metrics.response import DARK_FACTOR, DARK_LIMIT, dark_lift, dark_lift_pairs
from refusion_core.paths import default_weights_path, sample_pair_paths


def pair(seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)


@pytest.mark.parametrize("method", [average, laplacian_pyramid])
def test_linear_methods_do_not_lift(method):
    assert abs(dark_lift(method, *pair())) < 0.05


def test_an_offset_lifts_by_its_share_of_the_range():
    offset = 0.2
    lifted = lambda a, b: np.clip(0.5 * (a + b) + offset, 0.0, 1.0)  # noqa: E731
    a, b = pair(1)
    a, b = 0.5 * a, 0.5 * b  # nothing clips at full brightness
    assert dark_lift(lifted, a, b) == pytest.approx(255 * offset * (1 - DARK_FACTOR), rel=1e-4)
    assert dark_lift_pairs(lifted, [(a, b), (a, b)]) == pytest.approx(dark_lift(lifted, a, b))


def test_bad_arguments():
    with pytest.raises(ValueError, match="factor"):
        dark_lift(average, *pair(), factor=0.0)
    with pytest.raises(ValueError, match="no pairs"):
        dark_lift_pairs(average, [])


def sample(task: str, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The task's first pair of resources/samples/manifest.json, grey, resized to size²."""
    def read(path):
        y = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        return cv2.resize(y, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return tuple(read(p) for p in sample_pair_paths(task))


def test_sample_pair_paths_reads_the_manifest(tmp_path, monkeypatch):
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "manifest.json").write_text(
        '{"pairs": [{"task": "mif", "a": "ct.png", "b": "mri.png"}, {"task": "mif", "a": "x.png", "b": "y.png"}]}')
    monkeypatch.setenv("REFUSION_RESOURCES", str(tmp_path))
    assert sample_pair_paths("mif") == (tmp_path / "samples" / "ct.png", tmp_path / "samples" / "mri.png")
    with pytest.raises(KeyError, match="ivif"):
        sample_pair_paths("ivif")


@pytest.mark.parametrize("task", TASKS)
def test_shipped_default_keeps_a_dark_pair_dark(task):
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model
    fuse = as_luminance_fuser(Fuser(load_model(default_weights_path(task), task), "cpu"))
    assert dark_lift(fuse, *sample(task)) <= DARK_LIMIT  # the ivif default of 2026-12-05 (second session): 68
