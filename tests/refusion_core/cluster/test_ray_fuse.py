"""``refusion fuse --pairs ... --cluster`` (refusion_core.cluster.ray_fuse): the pool's plan, the results file and the
messages without Ray; then, on a local Ray cluster of 2 CPUs started once for the module (ray.init is slow), 40 small
pairs on 2 workers byte for byte as the single-process command fuses them, a run killed half-way that resumes
without redoing what was done, a corrupt pair that is listed without losing the others, and an error of the whole
run raised as itself."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from refusion_core.cli.main import main
from refusion_core.cluster import ray_fuse
from refusion_core.cluster.pool import Pool, plan_pool
from refusion_core.cluster.results import read_results, results_text, write_results
from refusion_core.errors import InputError, WeightsError
from refusion_core.fusing.batch import BatchOptions, PairJob, PairRecord, plan_outputs
from refusion_core.io.images import from_float, write_image
from refusion_core.models.checkpoint import file_sha256, new_bundle, save_model
from tests.conftest import REPO, textured, write_pairs
from tests.refusion_core.cli.conftest import error_line

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Data's own, on its settings
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (the cluster "
                               "extra): pip install 'refusion-studio[cluster]'")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A fresh ivif model (seed 0) saved once per test module (as tests/refusion_core/cli/conftest.py's)."""
    return save_model(tmp_path_factory.mktemp("w") / "m.safetensors", new_bundle("ivif", seed=0))


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray cluster of 2 CPUs in this process, for the whole module; shut down at its end."""
    import logging

    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


def small_pairs(root: Path, n: int, sizes=(32, 36, 40, 44, 48)) -> tuple[Path, Path]:
    """``n`` registered pairs (grey A, RGB B; every fifth B grey) of 32 to 48 px squares in ``root``/A, ``root``/B,
    as tests/conftest.py's write_pairs writes them."""
    da, db = root / "A", root / "B"
    for i in range(n):
        s = sizes[i % len(sizes)]
        write_image(da / f"p{i:02d}.png", from_float(textured(s, s, seed=i)))
        rgb = np.dstack([textured(s, s, seed=100 + i + k) for k in range(3)])
        write_image(db / f"p{i:02d}.png", from_float(textured(s, s, seed=100 + i) if i % 5 == 4 else rgb))
    return da, db


def fuse(da, db, out, weights, *extra):
    return main(["fuse", "--pairs", str(da), str(db), "--out-dir", str(out), "--weights", str(weights), *extra])


def file_stamps(folder: Path, stem: str) -> list[tuple[int, int]]:
    """(mtime in ns, inode) of a pair's image and sidecar: both change when a file is written again."""
    return [(f.stat().st_mtime_ns, f.stat().st_ino) for f in (folder / f"{stem}.png", folder / f"{stem}.refusion.json")]


def sidecar_without_run(path: Path) -> dict:
    """A sidecar less what differs between two runs of the same fusion: when, on which device, into which folder."""
    record = json.loads(path.read_text())
    record.pop("created")
    record["model"].pop("device")
    record["export"].pop("folder")
    return record


# --- without Ray --------------------------------------------------------------------------------------------------

def test_without_ray_the_cluster_option_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    da, db = write_pairs(tmp_path, 2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import ray raises ImportError
    assert main(["fuse", "--pairs", str(da), str(db), "--out-dir", str(tmp_path / "out"), "--task", "ivif",
                 "--cluster", "local"]) == 2
    assert 'pip install "refusion-studio[cluster]"' in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_cluster_options_belong_to_folder_fusion(tmp_path, capsys):
    da, db = write_pairs(tmp_path, 1)
    assert main(["fuse", str(da / "p0.png"), str(db / "p0.png"), "-o", str(tmp_path / "f.png"), "--task", "ivif",
                 "--cluster", "auto"]) == 2
    assert "--cluster is for fusing folders" in error_line(capsys)
    assert main(["fuse", "--pairs", str(da), str(db), "--out-dir", str(tmp_path / "out"), "--task", "ivif",
                 "--workers", "2"]) == 2
    assert "--workers is for --cluster" in error_line(capsys)


def test_the_pool_is_one_worker_per_gpu_else_per_two_cpus():
    assert plan_pool({"CPU": 16}, [8, 8]) == Pool(8, "cpu", 2)
    assert plan_pool({"CPU": 2}, [2]) == Pool(1, "cpu", 2)
    assert plan_pool({"CPU": 2}, [2], workers=2) == Pool(2, "cpu", 1)
    assert plan_pool({"CPU": 64}, [32, 32], workers=1) == Pool(1, "cpu", 32)  # an actor lives on one node
    assert plan_pool({"CPU": 32, "GPU": 4}, [16, 16]) == Pool(4, "cuda", 1, 1.0)
    assert plan_pool({"CPU": 32, "GPU": 4}, [16, 16], workers=8) == Pool(8, "cuda", 1, 0.5)
    assert plan_pool({"CPU": 32, "GPU": 2}, [32], workers=3) == Pool(3, "cuda", 1, 0.5)  # 1/ceil(3/2): all fit
    assert plan_pool({"CPU": 32, "GPU": 4}, [32], device="cpu") == Pool(16, "cpu", 2)
    assert "2 workers on cpu, 1 thread each" in Pool(2, "cpu", 1).describe()
    for kwargs, words in [({"workers": 3}, "has 2 CPUs"), ({"workers": 0}, "at least 1"),
                          ({"device": "cuda"}, "no GPU")]:
        with pytest.raises(InputError, match=words):
            plan_pool({"CPU": 2}, [2], **kwargs)


def test_the_results_file_has_a_line_per_pair_in_the_jobs_order(tmp_path):
    jobs = plan_outputs([(f"A/p{i}.png", f"B/p{i}.png") for i in range(3)], tmp_path)
    records = [PairRecord(jobs[2], "failed", "p2.png is corrupt", seconds=0.5),
               PairRecord(jobs[0], "written", metrics={"EN": 6.5}, seconds=1.25),
               PairRecord(jobs[1], "skipped", metrics={"EN": 7.0})]
    path = write_results(tmp_path, jobs, records, "abc", metrics=True)
    lines = read_results(path)
    assert [ln["stem"] for ln in lines] == ["p0", "p1", "p2"]
    assert lines[0] == {"stem": "p0", "a": str(jobs[0].a), "b": str(jobs[0].b), "output": str(jobs[0].out),
                        "status": "written", "model_sha256": "abc", "seconds": 1.25, "metrics": {"EN": 6.5}}
    assert lines[2]["status"] == "failed" and lines[2]["output"] is None and lines[2]["error"] == "p2.png is corrupt"
    assert "metrics" not in json.loads(results_text(records[1:2], "abc", metrics=False))
    assert PairRecord.from_dict(json.loads(json.dumps(records[1].to_dict()))) == records[1]
    assert PairJob.from_dict(jobs[1].to_dict()) == jobs[1]


@needs_ray
def test_pairs_already_done_are_skipped_before_any_cluster_starts(tmp_path, weights, monkeypatch, capsys):
    da, db = write_pairs(tmp_path, 3)
    out = tmp_path / "out"
    assert fuse(da, db, out, weights, "--device", "cpu") == 0  # single-process
    monkeypatch.setattr(ray_fuse, "ray_cluster", lambda *a, **k: pytest.fail("a cluster was started"))
    capsys.readouterr()
    assert fuse(da, db, out, weights, "--cluster", "local") == 0
    assert "0 written, 3 already done" in capsys.readouterr().out
    assert [ln["status"] for ln in read_results(out / "results.jsonl")] == ["skipped"] * 3
    manifest = tmp_path / "manifest.json"  # the --manifest form: the same pairs, the same outputs
    pairs = [{"a": f"A/p{i}.png", "b": f"B/p{i}.png", "split": "test"} for i in range(3)]
    manifest.write_text(json.dumps({"sets": {"ivif/demo": {"pairs": pairs}}}))
    assert main(["fuse", "--manifest", str(manifest), "--set", "demo", "--out-dir", str(out), "--weights",
                 str(weights), "--cluster", "auto"]) == 0
    assert "0 written, 3 already done" in capsys.readouterr().out


# --- on a local Ray cluster -----------------------------------------------------------------------------------------

@needs_ray
@pytest.mark.slow
def test_forty_pairs_on_two_workers_are_the_single_process_commands_bytes(ray_local, tmp_path, weights, capsys,
                                                                           monkeypatch):
    da, db = small_pairs(tmp_path, 40)
    here, there = tmp_path / "here", tmp_path / "ray"
    monkeypatch.chdir(tmp_path)  # relative paths, as typed: the workers get them absolute, the sidecars as given
    model = os.path.relpath(weights, tmp_path)
    assert fuse("A", "B", "here", model, "--device", "cpu") == 0
    capsys.readouterr()
    assert fuse("A", "B", "ray", model, "--cluster", "auto", "--workers", "2") == 0
    out = capsys.readouterr().out
    assert "40 written, 0 already done, 0 failed" in out and "Ray: 2 workers on cpu, 1 thread each" in out
    images = sorted(p.name for p in here.glob("*.png"))
    assert len(images) == 40 and sorted(p.name for p in there.glob("*.png")) == images
    for name in images:
        assert (there / name).read_bytes() == (here / name).read_bytes(), name
        sidecar = name.replace(".png", ".refusion.json")
        assert sidecar_without_run(there / sidecar) == sidecar_without_run(here / sidecar)
    lines = read_results(there / "results.jsonl")
    assert [ln["stem"] for ln in lines] == [f"p{i:02d}" for i in range(40)]
    assert {ln["status"] for ln in lines} == {"written"}
    assert {ln["model_sha256"] for ln in lines} == {file_sha256(weights)}
    assert all(ln["output"] == str(there / f"{ln['stem']}.png") and ln["seconds"] > 0 for ln in lines)


@needs_ray
@pytest.mark.slow
def test_a_corrupt_pair_is_listed_and_the_others_are_written(ray_local, tmp_path, weights, capsys):
    da, db = small_pairs(tmp_path, 6)
    (db / "p03.png").write_bytes((db / "p03.png").read_bytes()[:60])  # truncated
    out, table = tmp_path / "out", tmp_path / "m.csv"
    assert fuse(da, db, out, weights, "--cluster", "auto", "--workers", "2", "--metrics", str(table)) == 1
    captured = capsys.readouterr()
    failed = [ln for ln in captured.err.splitlines() if ln.startswith("refusion: failed")]
    assert len(failed) == 1 and failed[0].startswith("refusion: failed: p03 (A/p03.png + B/p03.png): ")
    assert "fused 5 of 6 pairs" in captured.out and "5 written" in captured.out and "1 failed" in captured.out
    assert sorted(p.stem for p in out.glob("*.png")) == ["p00", "p01", "p02", "p04", "p05"]
    lines = {ln["stem"]: ln for ln in read_results(out / "results.jsonl")}
    assert lines["p03"]["status"] == "failed" and "p03.png" in lines["p03"]["error"] and lines["p03"]["output"] is None
    assert all(lines[s]["status"] == "written" and set(lines[s]["metrics"]) == {"EN", "SD", "SF", "AG", "SCD", "SSIM"}
               for s in lines if s != "p03")
    assert [row.split(",")[0] for row in table.read_text().splitlines()[1:]] == ["p00", "p01", "p02", "p04", "p05"]


@needs_ray
@pytest.mark.slow
def test_a_run_killed_half_way_resumes_without_redoing_finished_pairs(ray_local, tmp_path, weights, capsys):
    da, db = small_pairs(tmp_path, 40, sizes=(96, 112))  # larger, so that the run lasts long enough to be cut
    out = tmp_path / "out"
    address = ray_local.get_runtime_context().gcs_address  # the ADDRESS form, to this module's cluster
    cmd = [sys.executable, "-m", "refusion_core", "fuse", "--pairs", str(da), str(db), "--out-dir", str(out),
           "--weights", str(weights), "--cluster", address, "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(list(out.glob("*.refusion.json"))) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    err = proc.communicate()[1].decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, err  # killed, not finished
    done = {p.name.removesuffix(".refusion.json") for p in out.glob("*.refusion.json")}  # the sidecar comes last
    assert 10 <= len(done) < 40, err
    stamps = {stem: file_stamps(out, stem) for stem in done}
    assert not (out / "results.jsonl").exists()  # written at the end of a run only
    capsys.readouterr()
    assert fuse(da, db, out, weights, "--cluster", "auto", "--workers", "2") == 0
    assert "fused 40 of 40 pairs" in capsys.readouterr().out
    assert {stem: file_stamps(out, stem) for stem in done} == stamps
    status = {ln["stem"]: ln["status"] for ln in read_results(out / "results.jsonl")}
    assert len(status) == 40 and all(status[stem] == "skipped" for stem in done)
    assert "written" in status.values()  # what the killed run had not finished


@needs_ray
@pytest.mark.slow
def test_an_error_of_the_whole_run_in_a_worker_is_raised_as_itself(ray_local, tmp_path, weights):
    da, db = write_pairs(tmp_path, 2)
    jobs = plan_outputs([(da / "p0.png", db / "p0.png"), (da / "p1.png", db / "p1.png")], tmp_path / "out")
    batch = ray_fuse.RayBatch("ivif", weights, BatchOptions("ivif"), workers=1, device="cpu")
    batch.model["sha256"] = "0" * 64  # as if a node held another file under the same path
    with pytest.raises(WeightsError, match="not the model the run was started with"):
        list(batch.run(jobs))
