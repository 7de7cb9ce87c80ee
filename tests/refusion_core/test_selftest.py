"""The installation self-test (``ReFusionStudio --self-test``), in-process on a temporary resources folder.

Fresh (untrained) models stand in for the default weights, so the test needs neither the real weights
nor a bundle; the real bundle is checked by .ci/run (packaging/build.py then ``--self-test``).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from refusion_core import TASKS
from refusion_core.models.checkpoint import new_bundle, save_model
from refusion_core.io.images import read_image, write_image
from refusion_core.fusing.fuser import FuseResult
from refusion_core.selftest import check_result, run_selftest

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture
def resources(tmp_path, monkeypatch) -> Path:
    """A resources folder with the sample pairs (a quarter of their size, to keep the test fast; grey stays
    grey, RGB stays RGB) and no weights yet; REFUSION_RESOURCES points at it."""
    root = tmp_path / "resources"
    shutil.copytree(SAMPLES, root / "samples")
    for png in (root / "samples").glob("*.png"):
        img = read_image(png)
        write_image(png, cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA))
    (root / "weights").mkdir()
    monkeypatch.setenv("REFUSION_RESOURCES", str(root))
    return root


def _save_fresh_models(root: Path, tasks=TASKS) -> None:
    for i, task in enumerate(tasks):
        save_model(root / "weights" / f"{task}.safetensors", new_bundle(task, seed=i))


def _run(train: bool = False) -> tuple[int, str]:
    buf = io.StringIO()
    rc = run_selftest(out=buf, device="cpu", train=train)
    return rc, buf.getvalue()


def test_passes_with_a_model_per_task(resources):
    _save_fresh_models(resources)
    rc, text = _run()
    assert rc == 0, text
    assert text.count("maps sum to 1") == len(TASKS)
    for line in ("ok    stack mfif: 4 frames", "ok    align: misaligned/coffee_over_moved.png", "ok    volumes mif: ",
                 "ok    DICOM reader: pydicom"):
        assert line in text
    for task in TASKS:
        assert f"{task}: model {task}.safetensors" in text
    assert "maps sum to 1" in text and text.rstrip().endswith("self-test passed")


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine the second-order steps are several times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_training_steps_run(resources, one_thread):
    _save_fresh_models(resources)
    rc, text = _run(train=True)
    assert rc == 0, text
    assert "ok    training: 2 steps (meta, fuse) from a fresh model on 2 sample pairs, losses finite" in text


def test_training_needs_two_pairs(resources):
    _save_fresh_models(resources)
    manifest = resources / "samples" / "manifest.json"
    pairs = json.loads(manifest.read_text(encoding="utf-8"))["pairs"]
    manifest.write_text(json.dumps({"pairs": pairs[:1]}), encoding="utf-8")
    rc, text = _run(train=True)
    assert rc == 1 and "FAIL  training: needs two sample pairs" in text


def test_missing_weights_fail_clearly(resources):
    rc, text = _run()
    assert rc == 1
    for task in TASKS:
        assert f"FAIL  {task}: No default weights for task '{task}'" in text
    # the four tasks, and the stack and volume checks that need the mfif / mif models
    assert "FAILED (6 problem(s))" in text and "hint: the default models are resources/weights" in text


def test_unreadable_sample_fails_only_its_pair(resources):
    _save_fresh_models(resources)
    (resources / "samples" / "mif_ct.png").write_bytes(b"not a png")
    rc, text = _run()
    assert rc == 1 and "FAIL  mif: mif_ct.png + mif_mri.png: InputError" in text
    assert text.count("maps sum to 1") == len(TASKS) - 1 and "FAILED (1 problem(s))" in text


def test_a_missing_stack_frame_or_volume_fails_its_check(resources):
    _save_fresh_models(resources)
    (resources / "samples" / "stack" / "coins_2.png").unlink()
    (resources / "samples" / "volumes" / "head_pet.nii.gz").unlink()
    rc, text = _run()
    assert rc == 1 and "FAIL  stack mfif: 4 frames: InputError" in text and "FAIL  volumes mif:" in text
    assert "ok    align:" in text and "FAILED (2 problem(s))" in text


def test_missing_manifest_fails(resources):
    (resources / "samples" / "manifest.json").unlink()
    rc, text = _run()
    assert rc == 1 and "manifest.json is missing" in text


def test_task_without_sample_pair_fails(resources):
    manifest = resources / "samples" / "manifest.json"
    manifest.write_text('{"pairs": []}', encoding="utf-8")
    rc, text = _run()
    assert rc == 1 and "FAIL  ivif: no sample pair for this task" in text


def _good(h=8, w=10) -> tuple[np.ndarray, np.ndarray, FuseResult]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (h, w), dtype=np.uint8)
    b = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    wa = rng.random((h, w), dtype=np.float32)
    maps = {"wa": wa, "wb": 1 - wa, "va": np.full((h, w), 0.5, np.float32), "vb": np.full((h, w), 0.5, np.float32)}
    fused_y = rng.random((h, w), dtype=np.float32)
    return a, b, FuseResult(b.copy(), fused_y, maps)


def test_check_result_accepts_a_good_result():
    assert check_result(*_good()) == []


@pytest.mark.parametrize("spoil, message", [
    (lambda r: setattr(r, "fused", r.fused[:, :, 0]), "fused shape"),
    (lambda r: setattr(r, "fused", r.fused.astype(np.uint16)), "fused dtype"),
    (lambda r: setattr(r, "fused", np.zeros_like(r.fused)), "fused image is constant"),
    (lambda r: r.fused_y.__setitem__((0, 0), np.nan), "fused_y has 1 non-finite"),
    (lambda r: r.fused_y.__setitem__((0, 0), 1.5), "outside [0, 1]"),
    (lambda r: setattr(r, "fused_y", np.full_like(r.fused_y, 0.3)), "fused_y is constant"),
    (lambda r: setattr(r, "fused_y", r.fused_y.astype(np.float64)), "fused_y is float64"),
    (lambda r: r.maps["wb"].__setitem__((1, 1), 0.9), "wa + wb differs from 1"),
    (lambda r: r.maps["va"].__setitem__((1, 1), -0.5), "va spans"),
    (lambda r: r.maps.pop("vb"), "maps vb missing"),
    (lambda r: r.maps.clear(), "no weight maps"),
])
def test_check_result_names_each_problem(spoil, message):
    a, b, result = _good()
    spoil(result)
    problems = check_result(a, b, result)
    assert any(message in p for p in problems), problems


def test_unexpected_error_is_a_failure_that_says_where(resources, monkeypatch):
    import refusion_core.selftest as selftest

    def broken(say):
        raise OSError("could not get source code")

    monkeypatch.setattr(selftest, "_environment", broken)
    rc, text = _run()
    assert rc == 1 and "FAIL  OSError: could not get source code" in text
    assert 'in broken' in text and text.rstrip().endswith("self-test FAILED (1 problem(s))")
