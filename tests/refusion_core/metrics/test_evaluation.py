import json

import numpy as np
import pytest

from refusion_core.cli.main import main
from refusion_core.metrics.evaluation import FusionMethod, baseline_method, evaluate, fuse_with, markdown_table, wins
from refusion_core.models.checkpoint import new_bundle, save_model


def test_identity_method_scores_like_its_source(pair_dirs):
    from refusion_core.training.data import pairs_from_dirs

    pairs = pairs_from_dirs(*pair_dirs)[:2]
    take_a = FusionMethod("take_a", lambda ya, yb: ya)
    res = evaluate([take_a, baseline_method("average")], pairs, "ivif", names=["SSIM", "SD", "EN"])
    assert set(res["methods"]) == {"take_a", "average"}
    per = res["methods"]["take_a"]["per_pair"]
    assert set(per) == {"p0", "p1"}
    # fused = A: SSIM(F, A) = 1, so the mean SSIM is (1 + SSIM(A, B)) / 2 > SSIM of a blend with B alone
    assert all(0.5 < v["SSIM"] <= 1.0 for v in per.values())
    mean = res["methods"]["take_a"]["mean"]["SD"]
    assert mean == pytest.approx(np.mean([v["SD"] for v in per.values()]))
    table = markdown_table(res, reference="average")
    assert table.count("\n") == 3 and "wins vs average" in table


def test_fuse_with_keeps_colour_and_depth():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 65535, (8, 8), dtype=np.uint16)
    b = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    out = fuse_with(baseline_method("average"), a, b)
    assert out.dtype == np.uint16 and out.shape == (8, 8, 3)


def test_wins_respects_direction():
    hib = {"EN": True, "CE": False}
    assert wins({"EN": 2, "CE": 1}, {"EN": 1, "CE": 2}, ["EN", "CE"], hib) == 2
    assert wins({"EN": 0, "CE": 3}, {"EN": 1, "CE": 2}, ["EN", "CE"], hib) == 0


def test_eval_cli(pair_dirs, tmp_path, capsys):
    w = save_model(tmp_path / "m.safetensors", new_bundle("ivif", seed=0))
    out = tmp_path / "e.json"
    assert main(["eval", "--task", "ivif", "--pairs", *map(str, pair_dirs), "--weights", str(w),
                 "--baselines", "--json", str(out), "--device", "cpu", "--limit", "2"]) == 0
    res = json.loads(out.read_text())
    assert list(res["methods"]) == ["m", "average", "laplacian"]
    assert len(res["pairs"]) == 2 and "Qabf" in res["metrics"]
    assert "| m |" in capsys.readouterr().out
