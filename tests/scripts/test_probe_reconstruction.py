"""scripts/probe_reconstruction.py: which fixed fusion a trained R reconstructs the sources from best (issue 13,
point 1). The finding it rests on is a property of the reconstruction loss that these tests pin down: under the
per-pixel max, with an R that cannot tell which source was in focus, the average of a focus pair is the best fused
image, and the all-sharp composite is no better than copying one source."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("skimage.data", reason="scikit-image provides the synthetic focus pairs")


@pytest.fixture(scope="module")
def probe(repo_module):
    return repo_module("scripts", "probe_reconstruction")


@pytest.fixture(scope="module")
def batch(probe, repo_module):
    images = repo_module("scripts", "diagnose_meta").sample_images()
    return probe.SyntheticCrops(images, 48).batch(np.random.default_rng(0), 12)


def test_copying_the_average_beats_the_sharp_composite_under_the_max(probe, batch):
    lr = {rule: probe.identity_loss(batch, rule) for rule in ("A", "avg", "lap", "sharp")}
    # the intensity term of the average is exactly a quarter of the sharp composite's; the gradient term follows
    assert lr["avg"] < 0.5 * lr["sharp"], lr
    # the sharp composite is as far from the blurred source as A is from B: no better than copying A
    assert lr["sharp"] == pytest.approx(lr["A"], rel=0.05), lr
    assert lr["avg"] < lr["lap"], lr


def test_rules_share_the_sources_crop(probe, batch):
    a, b, rules = batch[0]
    assert set(rules) == {"A", "avg", "lap", "blend-0.7", "blend-0.85", "sharp"}
    np.testing.assert_array_equal(rules["A"], a)
    np.testing.assert_allclose(rules["avg"], 0.5 * (a + b), atol=1e-6)
    for fused in rules.values():
        assert fused.shape == a.shape and fused.dtype == np.float32
        assert 0.0 <= fused.min() and fused.max() <= 1.0


def test_the_script_trains_r_per_rule_and_writes_its_table(probe, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert probe.main(["--data", "synthetic", "--steps", "2", "--batch", "2", "--crop", "32", "--eval-crops", "4",
                       "--rules", "avg", "sharp", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["Lr"]) == set(data["Lr_identity"]) == {"avg", "sharp"}
    assert all(math.isfinite(v) and v > 0 for v in data["Lr"].values())
    assert "best to worst" in capsys.readouterr().out
