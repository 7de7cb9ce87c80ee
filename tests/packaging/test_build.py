"""The cheap parts of packaging/build.py (the build itself is .ci/run's step, not a test)."""

from __future__ import annotations

import os

import pytest


def test_setup_check_matches_the_installed_torch(build):
    import torch

    cpu_problem, gpu_problem = build.check_setup(gpu=False), build.check_setup(gpu=True)
    pytest.importorskip("PyInstaller")
    if torch.version.cuda:
        assert cpu_problem and "pass --gpu" in cpu_problem and gpu_problem is None
    else:
        assert cpu_problem is None and gpu_problem and "CUDA build of torch" in gpu_problem


def test_sizes_do_not_count_links_twice(build, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "big.so").write_bytes(b"x" * 1000)
    os.symlink("lib/big.so", tmp_path / "big.so")
    assert build.tree_size(tmp_path) == 1000
    assert build.tree_size(tmp_path / "big.so") == 0


def test_find_cuda_libraries_in_a_folder(build, cfg, tmp_path):
    for rel in ("_internal/torch/lib/libtorch_cpu.so", "_internal/torch/lib/libtorch_cuda.so",
                "_internal/nvidia/cudnn/lib/libcudnn.so.9"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = build.find(tmp_path, cfg.CUDA_LIBS)
    assert sorted(found) == ["_internal/nvidia/cudnn/lib/libcudnn.so.9", "_internal/torch/lib/libtorch_cuda.so"]


def test_options(build):
    args = build.parse_args(["--self-test", "--archive", "--gpu"])
    assert args.self_test and args.archive and args.gpu and not args.clean
    assert args.resources.name == "resources"


def test_missing_optional_packages_are_reported(build, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "pydicom" else real(name))
    assert "pydicom" in build.report_optional()
    assert "bundle lacks DICOM input" in capsys.readouterr().out
