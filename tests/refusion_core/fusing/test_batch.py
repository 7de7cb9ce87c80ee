"""The batch step (refusion_core.fusing.batch): naming outputs, one pair start to end, skipping what is done and
redoing what is not, a failed pair as a record, the metrics table."""

import json

import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.fusing.batch import BatchOptions, PairFuser, fuse_pairs, metrics_csv, output_stem, plan_outputs
from refusion_core.fusing.fuser import Fuser
from refusion_core.io.images import read_image
from refusion_core.metrics import PAPER_METRICS
from refusion_core.models.checkpoint import load_model, new_bundle, save_model
from tests.conftest import write_pairs


@pytest.fixture(scope="module")
def fuser(tmp_path_factory):
    path = save_model(tmp_path_factory.mktemp("w") / "m.safetensors", new_bundle("ivif", seed=0))
    return Fuser(load_model(path), "cpu")


@pytest.fixture
def jobs(tmp_path):
    da, db = write_pairs(tmp_path, 3)
    return plan_outputs([(da / f"p{i}.png", db / f"p{i}.png") for i in range(3)], tmp_path / "out")


def test_plan_names_outputs_by_stem_and_refuses_clashes(tmp_path):
    assert output_stem("a/x.png", "b/x.tif") == "x" and output_stem("a/ir 1.png", "b/vis#1.png") == "ir_1__vis_1"
    (job,) = plan_outputs([("A/p0.png", "B/p0.png")], tmp_path / "out", "tif")
    assert job.out == tmp_path / "out" / "p0.tif" and job.sidecar == tmp_path / "out" / "p0.refusion.json"
    assert job.a.is_absolute() and job.a.name == "p0.png"
    with pytest.raises(InputError, match="both be written as p0.png"):
        plan_outputs([("A/p0.png", "B/p0.png"), ("C/p0.png", "D/p0.png")], tmp_path)
    with pytest.raises(InputError, match="format"):
        plan_outputs([("A/p0.png", "B/p0.png")], tmp_path, "jpg")
    da, db = write_pairs(tmp_path / "src", 1)
    with pytest.raises(InputError, match="overwrite the input"):
        plan_outputs([(da / "p0.png", db / "p0.png")], da)  # the results folder is a source folder


def test_a_pair_is_written_then_skipped_then_redone_when_damaged(fuser, jobs):
    pf = PairFuser(fuser, BatchOptions("ivif", metrics=True))
    first = list(fuse_pairs(jobs, pf))
    assert [r.status for r in first] == ["written"] * 3
    assert set(first[0].metrics) == set(PAPER_METRICS["ivif"])
    record = json.loads(jobs[0].sidecar.read_text())
    assert record["model"]["sha256"] == fuser.bundle.sha256 and record["outputs"] == ["p0.png"]
    assert record["sources"] == {"a": str(jobs[0].a), "b": str(jobs[0].b)} and record["task"] == "ivif"
    assert read_image(jobs[0].out).shape == (48, 56, 3)
    again = list(fuse_pairs(jobs, pf))
    assert [r.status for r in again] == ["skipped"] * 3
    assert again[1].metrics == pytest.approx(first[1].metrics, rel=1e-5)  # from the sidecar
    data = jobs[1].out.read_bytes()
    jobs[1].out.write_bytes(data[: len(data) // 2])  # a damaged image
    assert not pf.is_current(jobs[1])
    assert [r.status for r in fuse_pairs(jobs, pf)] == ["skipped", "written", "skipped"]
    assert read_image(jobs[1].out).shape == (48, 56, 3)
    assert [r.status for r in fuse_pairs(jobs, pf, redo=True)] == ["written"] * 3


def test_other_settings_or_another_model_redo_the_pair(fuser, jobs, tmp_path):
    list(fuse_pairs(jobs[:1], PairFuser(fuser, BatchOptions("ivif"))))
    assert PairFuser(fuser, BatchOptions("ivif")).is_current(jobs[0])
    assert not PairFuser(fuser, BatchOptions("ivif", stretch=True)).is_current(jobs[0])
    other = Fuser(load_model(save_model(tmp_path / "o.safetensors", new_bundle("ivif", seed=1))), "cpu")
    assert not PairFuser(other, BatchOptions("ivif")).is_current(jobs[0])


def test_a_run_killed_between_image_and_sidecar_redoes_the_pair(fuser, jobs, monkeypatch):
    from refusion_core.fusing import batch

    pf = PairFuser(fuser, BatchOptions("ivif"))

    def killed(path, record):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "write_sidecar", killed)
    with pytest.raises(KeyboardInterrupt):
        pf.run(jobs[0])
    monkeypatch.undo()
    assert jobs[0].out.is_file() and not jobs[0].sidecar.exists() and not pf.is_current(jobs[0])
    assert pf.run(jobs[0]).status == "written" and pf.is_current(jobs[0])
    assert not list(jobs[0].out.parent.glob("*.part"))


def test_a_bad_pair_is_a_failed_record_and_the_others_go_on(fuser, jobs):
    jobs[1].b.write_bytes(b"not an image")
    records = list(fuse_pairs(jobs, PairFuser(fuser, BatchOptions("ivif"))))
    assert [r.status for r in records] == ["written", "failed", "written"]
    assert "p1.png" in records[1].error and "\n" not in records[1].error
    assert not jobs[1].out.exists() and not jobs[1].sidecar.exists()


def test_sixteen_bit_sources_give_sixteen_bit_results(fuser, tmp_path):
    from refusion_core.io.images import write_image
    from tests.conftest import textured

    a = write_image(tmp_path / "A" / "x.png", (textured(40, 40, 1) * 60000).astype(np.uint16))
    b = write_image(tmp_path / "B" / "x.png", (textured(40, 40, 2) * 255).astype(np.uint8))
    (job,) = plan_outputs([(a, b)], tmp_path / "out", "tif")
    assert PairFuser(fuser, BatchOptions("ivif")).run(job).status == "written"
    assert read_image(job.out).dtype == np.uint16
    (job8,) = plan_outputs([(a, b)], tmp_path / "out8")
    assert PairFuser(fuser, BatchOptions("ivif", bit_depth=8)).run(job8).status == "written"
    assert read_image(job8.out).dtype == np.uint8


def test_metrics_csv_has_a_row_per_pair_with_metrics(fuser, jobs):
    pf = PairFuser(fuser, BatchOptions("mfif", metrics=True))
    records = list(fuse_pairs(jobs, pf))
    records[1].metrics = {}  # a failed pair has none: no row
    lines = metrics_csv(records, pf.metric_names, pf.model).splitlines()
    assert lines[0].split(",") == ["pair", "a", "b", "model", "model_sha256", *PAPER_METRICS["mfif"]]
    assert [ln.split(",")[0] for ln in lines[1:]] == ["p0", "p2"]
    assert lines[1].split(",")[4] == fuser.bundle.sha256
