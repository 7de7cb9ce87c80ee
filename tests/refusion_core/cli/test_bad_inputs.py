"""The one-line contract, case by case (issue 17): every user error of every subcommand ends in exactly one
line on stderr (``refusion: error: ...``), exit status 2, and no file written (not even a partial one).

Each case is (id, the arguments, a word the line must contain). The arguments are built inside a workspace
that holds good and bad inputs; after each case the workspace must hold exactly what it held before.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from refusion_core.cli.main import main
from refusion_core.io.images import from_float, write_image
from refusion_core.models.checkpoint import new_bundle, save_model
from tests.conftest import textured

SAMPLES = Path(__file__).resolve().parents[3] / "resources" / "samples"


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """The workspace: good pairs, a stack, bad files of every kind, a model, a finished run."""
    root = tmp_path_factory.mktemp("ws")
    for i in range(3):
        write_image(root / "A" / f"p{i}.png", from_float(textured(48, 56, i)))
        write_image(root / "B" / f"p{i}.png", from_float(np.dstack([textured(48, 56, 10 + i + k) for k in range(3)])))
    write_image(root / "one" / "A" / "p0.png", from_float(textured(48, 56, 0)))
    write_image(root / "one" / "B" / "p0.png", from_float(textured(48, 56, 1)))
    (root / "empty" / "A").mkdir(parents=True)
    (root / "empty" / "B").mkdir(parents=True)
    write_image(root / "small.png", from_float(textured(40, 40, 7)))
    write_image(root / "flat.png", np.full((64, 64), 128, np.uint8))
    (root / "text.png").write_text("not an image")
    (root / "empty.png").write_bytes(b"")
    good = (root / "A" / "p0.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 3])
    (root / "afile").write_text("a file, not a folder")
    save_model(root / "model.safetensors", new_bundle("ivif", seed=0))
    (root / "garbage.safetensors").write_bytes(os.urandom(256))
    (root / "points_bad.json").write_text("{not json")
    (root / "points_words.json").write_text(json.dumps({"ref": "here", "moving": "there"}))
    (root / "points_few.json").write_text(json.dumps({"ref": [[1, 2], [3, 4]], "moving": [[1, 2], [3, 4]]}))
    (root / "manifest_bad.json").write_text("[1, 2")
    (root / "manifest_types.json").write_text(json.dumps({"sets": {"x": {"train": [{"a": 1, "b": 2}]}}}))
    shutil.copytree(SAMPLES / "volumes", root / "volumes")
    shutil.copy(SAMPLES / "misaligned" / "coffee_over_moved.png", root / "over.png")
    shutil.copy(SAMPLES / "misaligned" / "coffee_under.png", root / "under.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.png")
    # a finished tiny run, and edited copies of it
    assert main(["train", "--task", "mfif", "--pairs", str(root / "A"), str(root / "B"), "--out", str(root / "run"),
                 "--device", "cpu", "--preset", "quick", "--epochs", "1", "--meta-steps", "1", "--fuse-steps", "1",
                 "--crop", "24"]) == 0
    edits = {"run_list": lambda info: [info], "run_nosettings": lambda info: {k: v for k, v in info.items()
                                                                             if k != "settings"},
             "run_negative": lambda info: {**info, "settings": {**info["settings"], "epochs": -3}}}
    for name, edit in edits.items():
        shutil.copytree(root / "run", root / name)
        info = json.loads((root / name / "run.json").read_text())
        (root / name / "run.json").write_text(json.dumps(edit(info)))
    shutil.copytree(root / "run", root / "run_badckpt")
    (root / "run_badckpt" / "checkpoint.pt").write_bytes(os.urandom(512))
    for name in ("run", "run_list", "run_nosettings", "run_negative", "run_badckpt"):
        (root / name / "checkpoint.pt").touch()  # the same mtime story everywhere
    os.symlink(root / "A" / "p0.png", root / "link_to_a.png")
    (root / "out_is_folder.png").mkdir()
    return root


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


A, B, C = "A/p0.png", "B/p0.png", "A/p1.png"
W = ["--weights", "model.safetensors", "--device", "cpu"]

CASES = [
    # fuse
    ("fuse-missing-input", ["fuse", "nope.png", B, "-o", "o.png", *W], "nope.png"),
    ("fuse-input-is-folder", ["fuse", "A", B, "-o", "o.png", *W], "A"),
    ("fuse-input-not-image", ["fuse", "text.png", B, "-o", "o.png", *W], "text.png"),
    ("fuse-input-empty", ["fuse", "empty.png", B, "-o", "o.png", *W], "empty.png"),
    ("fuse-input-truncated", ["fuse", "truncated.png", B, "-o", "o.png", *W], "truncated.png"),
    ("fuse-input-pipe", ["fuse", "pipe.png", B, "-o", "o.png", *W], "pipe.png"),
    ("fuse-sizes-differ", ["fuse", A, "small.png", "-o", "o.png", *W], "size"),
    ("fuse-one-image", ["fuse", A, "-o", "o.png", *W], "two"),
    ("fuse-bad-suffix", ["fuse", A, B, "-o", "o.xyz", *W], ".xyz"),
    ("fuse-out-is-input", ["fuse", A, B, "-o", A, *W], "input"),
    ("fuse-out-is-input-via-link", ["fuse", A, B, "-o", "link_to_a.png", *W], "input"),
    ("fuse-out-is-folder", ["fuse", A, B, "-o", "out_is_folder.png", *W], "folder"),
    ("fuse-out-under-a-file", ["fuse", A, B, "-o", "afile/o.png", *W], "afile"),
    ("fuse-weights-missing", ["fuse", A, B, "-o", "o.png", "--weights", "nope.safetensors"], "nope.safetensors"),
    ("fuse-weights-not-a-model", ["fuse", A, B, "-o", "o.png", "--weights", "text.png"], "text.png"),
    ("fuse-weights-garbage", ["fuse", A, B, "-o", "o.png", "--weights", "garbage.safetensors"], "garbage"),
    ("fuse-stretch-mode", ["fuse", A, B, "-o", "o.png", "--stretch-input", "sideways", *W], "sideways"),
    ("fuse-percentiles-words", ["fuse", A, B, "-o", "o.png", "--percentiles", "low,high", *W], "percentiles"),
    ("fuse-percentiles-reversed", ["fuse", A, B, "-o", "o.png", "--percentiles", "99,1", *W], "percentiles"),
    ("fuse-maps-with-stack", ["fuse", A, B, C, "-o", "o.png", "--maps", "maps", *W], "pair"),
    ("fuse-maps-is-a-file", ["fuse", A, B, "-o", "o.png", "--maps", "afile", *W], "afile"),
    ("fuse-stack-sizes-differ", ["fuse", A, B, "small.png", "-o", "o.png", *W], "size"),
    ("fuse-unknown-task", ["fuse", A, B, "-o", "o.png", "--task", "xray"], "xray"),
    ("fuse-unknown-option", ["fuse", A, B, "-o", "o.png", "--sharpen"], "--sharpen"),
    # align
    ("align-ref-missing", ["align", "nope.png", B, "-o", "aligned"], "nope.png"),
    ("align-moving-not-image", ["align", A, "text.png", "-o", "aligned"], "text.png"),
    ("align-out-is-a-file", ["align", "over.png", "under.png", "-o", "afile"], "afile"),
    ("align-out-is-input-folder", ["align", A, C, "-o", "A"], "input"),
    ("align-points-missing", ["align", A, C, "-o", "aligned", "--points", "nope.json"], "nope.json"),
    ("align-points-not-json", ["align", A, C, "-o", "aligned", "--points", "points_bad.json"], "points_bad.json"),
    ("align-points-words", ["align", "over.png", "under.png", "-o", "aligned", "--points", "points_words.json"], "points"),
    ("align-points-too-few", ["align", "over.png", "under.png", "-o", "aligned", "--points", "points_few.json"], "point pairs"),
    ("align-featureless", ["align", "flat.png", "flat.png", "-o", "aligned"], "flat.png"),
    # fuse-volume
    ("volume-missing", ["fuse-volume", "nope.nii.gz", "volumes/head_pet.nii.gz", "-o", "v.nii.gz", "--device", "cpu"],
     "nope.nii.gz"),
    ("volume-not-a-volume", ["fuse-volume", A, "volumes/head_pet.nii.gz", "-o", "v.nii.gz", "--device", "cpu"], "p0.png"),
    ("volume-bad-window", ["fuse-volume", "volumes/head_mr.nii.gz", "volumes/head_pet.nii.gz", "-o", "v.nii.gz",
                           "--window-a", "purple", "--device", "cpu"], "purple"),
    ("volume-bad-suffix", ["fuse-volume", "volumes/head_mr.nii.gz", "volumes/head_pet.nii.gz", "-o", "v.png",
                           "--device", "cpu"], "v.png"),
    # train
    ("train-empty-folders", ["train", "--task", "mfif", "--pairs", "empty/A", "empty/B", "--out", "r"], "empty"),
    ("train-one-pair", ["train", "--task", "mfif", "--pairs", "one/A", "one/B", "--out", "r", "--device", "cpu"],
     "2"),
    ("train-manifest-missing", ["train", "--task", "mfif", "--manifest", "nope.json", "--set", "x", "--out", "r"], "nope.json"),
    ("train-manifest-not-json", ["train", "--task", "mfif", "--manifest", "manifest_bad.json", "--set", "x", "--out", "r"],
     "manifest_bad.json"),
    ("train-manifest-types", ["train", "--task", "mfif", "--manifest", "manifest_types.json", "--set", "x",
                              "--out", "r"], "manifest"),
    ("train-out-is-a-file", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "afile"], "afile"),
    ("train-out-holds-a-run", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "run"], "resume"),
    ("train-negative-epochs", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--epochs", "-1"],
     "epochs"),
    ("train-zero-batch", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--batch", "0"], "batch"),
    ("train-crop-too-large", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--crop", "4096",
                              "--device", "cpu"], "crop"),
    ("train-init-missing", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--init", "nope.pth"],
     "nope.pth"),
    ("train-w-held-and-tied", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--fixed-w", "--tie-w",
                              "1"], "not both"),
    ("train-tie-w-negative", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--tie-w", "-1"], "tie_w"),
    ("train-epochs-not-a-number", ["train", "--task", "mfif", "--pairs", "A", "B", "--out", "r", "--epochs", "ten"],
     "ten"),
    # resume
    ("resume-not-a-run", ["resume", "A"], "not a training run"),
    ("resume-missing", ["resume", "nope"], "nope"),
    ("resume-run-json-list", ["resume", "run_list", "--device", "cpu"], "run.json"),
    ("resume-run-json-no-settings", ["resume", "run_nosettings", "--device", "cpu"], "run.json"),
    ("resume-run-json-negative", ["resume", "run_negative", "--device", "cpu"], "epochs"),
    ("resume-checkpoint-garbage", ["resume", "run_badckpt", "--device", "cpu"], "checkpoint"),
    # eval
    ("eval-weights-missing", ["eval", "--task", "mfif", "--pairs", "A", "B", "--weights", "nope.safetensors",
                              "--json", "e.json", "--device", "cpu"], "nope.safetensors"),
    ("eval-json-is-folder", ["eval", "--task", "mfif", "--pairs", "A", "B", "--baselines", "--weights",
                             "model.safetensors", "--json", "out_is_folder.png", "--device", "cpu"], "folder"),
    ("eval-empty-folders", ["eval", "--task", "mfif", "--pairs", "empty/A", "empty/B", "--json", "e.json"], "empty"),
    ("eval-bad-limit", ["eval", "--task", "mfif", "--pairs", "A", "B", "--limit", "0", "--json", "e.json"], "limit"),
    # info
    ("info-missing", ["info", "nope.safetensors"], "nope.safetensors"),
    ("info-not-a-model", ["info", "text.png"], "text.png"),
]


@pytest.mark.parametrize("argv, word", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_line_exit_2_nothing_written(ws, argv, word, capsys, monkeypatch):
    if "pipe.png" in argv and not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    monkeypatch.chdir(ws)
    before = listing(ws)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("refusion: error: "), err
    assert word.lower() in err[0].lower(), err[0]
    assert listing(ws) == before, sorted(listing(ws) ^ before)


def test_the_matrix_covers_every_subcommand():
    commands = {c[1][0] for c in CASES}
    assert commands == {"fuse", "align", "fuse-volume", "train", "resume", "eval", "info"}
    assert len(CASES) >= 40


@pytest.mark.parametrize("where", ["image", "maps", "model", "json"])
def test_a_full_disk_is_one_line_and_leaves_nothing(ws, tmp_path, where, capsys, monkeypatch):
    """ENOSPC from the file system, injected into the one writer every output goes through."""
    import errno

    from refusion_core.io import images

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(images.os, "fsync", full)
    out = tmp_path / "out"
    argv = {
        "image": ["fuse", str(ws / A), str(ws / B), "-o", str(out / "f.png"), "--weights",
                  str(ws / "model.safetensors"), "--device", "cpu"],
        "maps": ["fuse", str(ws / A), str(ws / B), "-o", str(out / "f.png"), "--maps", str(out / "maps"),
                 "--weights", str(ws / "model.safetensors"), "--device", "cpu"],
        "model": ["train", "--task", "mfif", "--pairs", str(ws / "A"), str(ws / "B"), "--out", str(out / "run"),
                  "--device", "cpu", "--preset", "quick", "--epochs", "1", "--meta-steps", "1", "--fuse-steps", "1",
                  "--crop", "24"],
        "json": ["eval", "--task", "ivif", "--pairs", str(ws / "A"), str(ws / "B"), "--baselines", "--weights",
                 str(ws / "model.safetensors"), "--json", str(out / "e.json"), "--device", "cpu"],
    }[where]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()  # progress bars may come first on long commands
    errors = [ln for ln in err if "refusion: error: " in ln]
    assert len(errors) == 1 and err[-1].startswith("refusion: error: ") and "space" in err[-1].lower(), err
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not written, written


@pytest.fixture
def full_disk(tmp_path):
    """A real file system with no space left: a 256 KiB tmpfs filled to the last byte (Linux as root, where
    ``mount`` is allowed; skipped with the reason elsewhere). Unmounted afterwards."""
    import subprocess

    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("a real full disk needs mount(8) as root on Linux; the injected ENOSPC cases cover the rest")
    mnt = tmp_path / "full"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)  # fill it: write until the OS says ENOSPC
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError:
            pass
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("where", ["image", "model"])
def test_a_really_full_disk_is_one_line_and_leaves_nothing(ws, full_disk, where, capsys):
    """The same contract on a real full file system (no injection): the write fails where the OS says so."""
    out = full_disk / "out"
    argv = {
        "image": ["fuse", str(ws / A), str(ws / B), "-o", str(out / "f.png"), "--weights",
                  str(ws / "model.safetensors"), "--device", "cpu"],
        "model": ["train", "--task", "mfif", "--pairs", str(ws / "A"), str(ws / "B"), "--out", str(out / "run"),
                  "--device", "cpu", "--preset", "quick", "--epochs", "1", "--meta-steps", "1", "--fuse-steps", "1",
                  "--crop", "24"],
    }[where]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in err if "refusion: error: " in ln]
    assert len(errors) == 1 and err[-1].startswith("refusion: error: ") and "space" in err[-1].lower(), err
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert not written, written
    assert sorted(p.name for p in full_disk.iterdir() if p.is_file()) == ["filler"]
