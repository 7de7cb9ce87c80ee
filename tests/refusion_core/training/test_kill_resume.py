"""Training survives what a cluster or a desktop does to a process: SIGKILL, SIGTERM, SIGINT (issue 17).

Each case runs ``python -m refusion_core train`` in a real subprocess on a tiny schedule, interrupts it once a
checkpoint exists, resumes it with ``refusion resume`` and checks the model at the end. The runs use one
thread, so a run is deterministic and an exact resume gives the uninterrupted run's weights bit for bit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import write_pairs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

SCHEDULE = ["--preset", "quick", "--epochs", "2", "--meta-steps", "2", "--fuse-steps", "10", "--crop", "24",
            "--batch", "2", "--checkpoint-every", "3", "--seed", "5"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def refusion(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "refusion_core", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def train(pair_dirs, run: Path, *more: str) -> subprocess.Popen:
    return refusion("train", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--out", str(run),
                    "--device", "cpu", *SCHEDULE, *more)


def wait_for_checkpoint(proc: subprocess.Popen, run: Path, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not (run / "checkpoint.pt").exists():
        assert proc.poll() is None, f"training ended before its first checkpoint: {proc.communicate()}"
        assert time.monotonic() - t0 < timeout, "no checkpoint within the time limit"
        time.sleep(0.05)


def weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run / "model.safetensors")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, request):
    """The weights of the same schedule run without interruption."""
    pair_dirs = request.getfixturevalue("module_pair_dirs")
    run = tmp_path_factory.mktemp("whole") / "run"
    proc = train(pair_dirs, run)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return weights(run)


@pytest.fixture(scope="module")
def module_pair_dirs(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("pairs"))


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143),
                                       (signal.SIGINT, 130)], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(module_pair_dirs, uninterrupted, tmp_path, sig, code):
    run = tmp_path / "run"
    proc = train(module_pair_dirs, run)
    wait_for_checkpoint(proc, run)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err
    if sig != signal.SIGKILL:  # stopped between steps: checkpoint and model written, and it says how to go on
        assert (run / "model.safetensors").is_file() and f"refusion resume {run}" in err
    resumed = refusion("resume", str(run), "--device", "cpu")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert not list(run.glob("*.part")) and not list(run.glob(".*.part"))
    got = weights(run)
    assert got.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert torch.equal(got[name], tensor), f"{name} differs after {sig.name} + resume"


def test_a_second_resume_of_a_running_run_says_who_holds_it(module_pair_dirs, tmp_path):
    run = tmp_path / "run"
    proc = train(module_pair_dirs, run, "--epochs", "1000")  # still training when the second one starts
    try:
        wait_for_checkpoint(proc, run)
        second = refusion("resume", str(run), "--device", "cpu")
        _, err = second.communicate(timeout=120)
        errors = [ln for ln in err.splitlines() if ln.startswith("refusion: error:")]
        assert second.returncode == 2 and len(errors) == 1 and err.rstrip().endswith(errors[0]), err
        assert "is already being trained by" in errors[0] and f"process {proc.pid}" in errors[0]
    finally:
        proc.kill()
        proc.communicate()
