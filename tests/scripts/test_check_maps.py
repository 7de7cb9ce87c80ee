"""scripts/check_maps.py prints the learned-map criteria of any weights file; a fresh model's P starts at 1/2
everywhere (zero last layer), so every figure it prints must read 0.500, and none may be NaN (empty region)."""

from __future__ import annotations

import re

import pytest

from refusion_core.models.checkpoint import new_bundle, save_model

pytest.importorskip("skimage.data", reason="scikit-image provides the synthetic pairs")


@pytest.mark.parametrize("task, names", [
    ("meif", ["va over blown", "vb over crushed", "va everywhere", "wa everywhere"]),
    ("mfif", ["va over A's sharp half", "over its blurred half", "everywhere"]),
])
def test_a_fresh_model_reads_one_half_everywhere(repo_module, tmp_path, task, names):
    path = save_model(tmp_path / f"{task}.safetensors", new_bundle(task, seed=0))
    line = getattr(repo_module("scripts", "check_maps"), task)(path)
    figures = dict(re.findall(r"([A-Za-z' ]+?) (\d\.\d{3}|nan)", line))
    assert [k.strip() for k in figures] == names, line
    assert set(figures.values()) == {"0.500"}, line
    if task == "mfif":  # and what F keeps of the focus stack, as a percentage (not a map figure)
        assert re.search(r"stack's weakest quarter \d+\.\d %", line), line
