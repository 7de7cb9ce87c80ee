"""``refusion fuse --pairs`` / ``--manifest``: many pairs, the model loaded once, resumable, a sidecar per result,
metrics as CSV; and ``--task``, which no command defaults any more."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from refusion_core import TASKS
from refusion_core.cli.main import main
from refusion_core.io.images import read_image
from refusion_core.metrics import PAPER_METRICS
from refusion_core.models.checkpoint import file_sha256, new_bundle, save_model
from tests.conftest import REPO, write_pairs
from tests.refusion_core.cli.conftest import error_line


def fuse_dirs(da, db, out, *extra):
    return main(["fuse", "--pairs", str(da), str(db), "--out-dir", str(out), "--device", "cpu", *extra])


def app_sidecar_keys() -> list[str]:
    """The keys, in order, of a sidecar the app writes for a saved model: the app fills the engine's
    :func:`refusion_core.io.sidecar.sidecar_record` (app/core/writing.py calls it; no app import here), with a
    redo command."""
    from refusion_core.io.sidecar import sidecar_record

    assert "engine.sidecar_record(" in (REPO / "app" / "core" / "writing.py").read_text()
    return list(sidecar_record({"a": "a.png", "b": "b.png"}, "ivif", {}, ["x.png"], redo="refusion fuse a b"))


def test_folders_give_an_image_and_a_sidecar_per_pair(tmp_path, weights, capsys):
    da, db = write_pairs(tmp_path, 4)
    out = tmp_path / "out"
    assert fuse_dirs(da, db, out, "--weights", str(weights)) == 0  # no --task: the model says ivif
    assert sorted(p.name for p in out.iterdir()) == sorted([f"p{i}.png" for i in range(4)]
                                                          + [f"p{i}.refusion.json" for i in range(4)])
    assert read_image(out / "p0.png").shape == (48, 56, 3)
    record = json.loads((out / "p2.refusion.json").read_text())
    assert list(record) == app_sidecar_keys()
    assert record["model"]["sha256"] == file_sha256(weights) and record["model"]["path"] == str(weights)
    assert record["sources"] == {"a": str(da / "p2.png"), "b": str(db / "p2.png")}
    assert record["task"] == "ivif" and record["outputs"] == ["p2.png"] and record["engine_version"]
    assert "4 written, 0 already done, 0 failed" in capsys.readouterr().out


def test_a_sidecars_redo_command_makes_the_same_image(tmp_path, weights, monkeypatch):
    import shlex

    da, db = write_pairs(tmp_path, 2)
    assert fuse_dirs(da, db, tmp_path / "out", "--weights", str(weights), "--stretch-input", "none,auto") == 0
    redo = json.loads((tmp_path / "out" / "p1.refusion.json").read_text())["redo"]
    argv = shlex.split(redo)
    assert argv[:2] == ["refusion", "fuse"] and "--stretch-input" in argv and "none,auto" in argv
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    assert main(argv[1:] + ["--device", "cpu"]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "again" / "p1.png"), read_image(tmp_path / "out" / "p1.png"))


def test_a_corrupt_pair_is_listed_at_the_end_and_the_others_are_written(tmp_path, weights, capsys):
    da, db = write_pairs(tmp_path, 4)
    (db / "p1.png").write_bytes((db / "p1.png").read_bytes()[:60])  # truncated
    out = tmp_path / "out"
    assert fuse_dirs(da, db, out, "--weights", str(weights)) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("refusion: failed: p1 (A/p1.png + B/p1.png): source B: ") and "p1.png" in err[-1]
    assert sum("refusion: failed" in ln for ln in err) == 1
    assert "fused 3 of 4 pairs" in captured.out and "3 written" in captured.out and "1 failed" in captured.out
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p2.png", "p3.png"]
    assert not (out / "p1.refusion.json").exists() and not list(out.glob(".*.part"))


def test_a_second_run_skips_what_is_done_and_redoes_a_truncated_output(tmp_path, weights, capsys):
    da, db = write_pairs(tmp_path, 4)
    out = tmp_path / "out"
    assert fuse_dirs(da, db, out, "--weights", str(weights)) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert fuse_dirs(da, db, out, "--weights", str(weights)) == 0
    assert "0 written, 4 already done" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    data = (out / "p3.png").read_bytes()
    (out / "p3.png").write_bytes(data[: len(data) // 2])  # as a crash of another program might leave it
    assert fuse_dirs(da, db, out, "--weights", str(weights)) == 0
    assert "1 written, 3 already done" in capsys.readouterr().out
    assert read_image(out / "p3.png").shape == (48, 56, 3)
    other = save_model(tmp_path / "other.safetensors", new_bundle("ivif", seed=1))
    assert fuse_dirs(da, db, out, "--weights", str(other)) == 0  # another model: everything again
    assert "4 written, 0 already done" in capsys.readouterr().out
    assert fuse_dirs(da, db, out, "--weights", str(other), "--redo") == 0
    assert "4 written" in capsys.readouterr().out


def test_metrics_csv_has_a_row_per_pair_with_the_tasks_metrics(tmp_path, weights, capsys):
    da, db = write_pairs(tmp_path, 3)
    table = tmp_path / "m.csv"
    args = ["--weights", str(weights), "--metrics", str(table)]
    assert fuse_dirs(da, db, tmp_path / "out", *args) == 0
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == ["pair", "a", "b", "model", "model_sha256", *PAPER_METRICS["ivif"]]
    assert [r["pair"] for r in rows] == ["p0", "p1", "p2"]
    assert all(r["model_sha256"] == file_sha256(weights) and r["a"] == str(da / f"{r['pair']}.png") for r in rows)
    assert all(np.isfinite(float(r[m])) for r in rows for m in PAPER_METRICS["ivif"])
    assert f"metrics in {table}" in capsys.readouterr().out
    first = table.read_text()
    assert fuse_dirs(da, db, tmp_path / "out", *args) == 0  # all skipped: the rows still come, the same
    assert table.read_text() == first


def test_sixteen_bit_inputs_and_tif_format(tmp_path, weights):
    from refusion_core.io.images import write_image
    from tests.conftest import textured

    write_image(tmp_path / "A" / "x.png", (textured(32, 40, 1) * 60000).astype(np.uint16))
    write_image(tmp_path / "B" / "x.png", (textured(32, 40, 2) * 60000).astype(np.uint16))
    assert fuse_dirs(tmp_path / "A", tmp_path / "B", tmp_path / "out", "--weights", str(weights),
                     "--format", "tif") == 0
    img = read_image(tmp_path / "out" / "x.tif")
    assert img.dtype == np.uint16 and img.shape == (32, 40)


def test_manifest_set_and_split(shared_dir, tmp_path, capsys):
    manifest = shared_dir / "datasets" / "manifest.json"
    entries = [e for e in json.loads(manifest.read_text())["mif/harvard"]["pairs"] if e["split"] == "test"][:2]
    out = tmp_path / "out"
    assert main(["fuse", "--manifest", str(manifest), "--set", "harvard", "--split", "test", "--limit", "2",
                 "--task", "mif", "--out-dir", str(out), "--device", "cpu"]) == 0
    assert "2 written" in capsys.readouterr().out
    for e in entries:
        stem = Path(e["a"]).stem
        record = json.loads((out / f"{stem}.refusion.json").read_text())
        assert record["sources"]["a"] == str(manifest.parent / e["a"]) and record["model"]["kind"] == "default"
        assert read_image(out / f"{stem}.png").ndim in (2, 3)
    assert len(list(out.glob("*.png"))) == 2


def test_without_task_or_a_model_that_says_it_the_command_stops_and_another_tasks_model_is_named(tmp_path, weights, capsys):
    da, db = write_pairs(tmp_path, 1)
    assert fuse_dirs(da, db, tmp_path / "out") == 2
    assert "--task" in error_line(capsys)
    assert main(["fuse", str(da / "p0.png"), str(db / "p0.png"), "-o", str(tmp_path / "f.png")]) == 2
    assert "--task is required" in error_line(capsys)
    assert not (tmp_path / "out").exists() and not (tmp_path / "f.png").exists()
    capsys.readouterr()
    assert main(["fuse", str(da / "p0.png"), str(db / "p0.png"), "-o", str(tmp_path / "f.png"),
                 "--weights", str(weights), "--task", "mfif", "--device", "cpu"]) == 0  # both said: as asked
    assert "m.safetensors was made for ivif (infrared + visible); it is used for mfif" in capsys.readouterr().err
    assert (tmp_path / "f.png").is_file()


@pytest.mark.parametrize("argv, word", [
    (["fuse", "a.png", "b.png", "--pairs", "A", "B", "--out-dir", "o"], "not both"),
    (["fuse", "--pairs", "A", "B", "--task", "ivif"], "--out-dir"),
    (["fuse", "--manifest", "m.json", "--out-dir", "o", "--task", "ivif"], "--set"),
    (["fuse", "--pairs", "A", "B", "--out-dir", "o", "-o", "f.png", "--task", "ivif"], "-o"),
    (["fuse", "--pairs", "A", "B", "--out-dir", "o", "--limit", "0", "--task", "ivif"], "--limit"),
    (["fuse", "a.png", "b.png", "-o", "f.png", "--out-dir", "o", "--task", "ivif"], "--out-dir"),
    (["fuse", "-o", "f.png", "--task", "ivif"], "nothing to fuse"),
    (["fuse", "--pairs", "A", "B", "--manifest", "m.json"], "not allowed"),
])
def test_batch_usage_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, word):
    monkeypatch.chdir(tmp_path)
    write_pairs(tmp_path, 1)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own
        code = exc.code
    assert code == 2 and word.lower() in error_line(capsys).lower()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["fuse", "fuse-volume", "eval", "train"])
def test_help_says_what_each_task_is(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse wraps after hyphens
    for task, words in zip(TASKS, ("infrared + visible", "medical", "multi-focus", "multi-exposure")):
        assert f"{task} = {words}" in text
    assert ("Required unless" in text) == (command != "fuse-volume")  # volumes are medical: mif by default


def test_train_and_eval_take_the_task_from_their_model(tmp_path, weights, capsys):
    from refusion_core.cli.train import init_and_task
    from refusion_core.paths import default_weights_path

    assert init_and_task(None, weights) == ("ivif", weights)
    assert init_and_task("mfif", Path("default")) == ("mfif", default_weights_path("mfif"))
    da, db = write_pairs(tmp_path, 3)
    assert main(["train", "--pairs", str(da), str(db), "--out", str(tmp_path / "run")]) == 2
    assert "--task" in error_line(capsys)
    assert main(["train", "--pairs", str(da), str(db), "--out", str(tmp_path / "run"), "--init", "default"]) == 2
    assert "--init default needs --task" in error_line(capsys)
    out = tmp_path / "e.json"
    assert main(["eval", "--pairs", str(da), str(db), "--weights", str(weights), "--limit", "1", "--json", str(out),
                 "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["task"] == "ivif"
