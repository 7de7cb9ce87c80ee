"""The CLI as a user runs it: outputs, one-line errors with exit status 2, nothing half-written."""

from pathlib import Path

import numpy as np
import pytest

from refusion_core.cli.main import main
from refusion_core.errors import InputError
from refusion_core.io.images import read_image, write_image
from tests.refusion_core.cli.conftest import error_line


def test_fuse_writes_image_and_maps(pair_dirs, tmp_path, weights):
    a, b = pair_dirs[0] / "p0.png", pair_dirs[1] / "p0.png"
    out = tmp_path / "out" / "f.tif"
    assert main(["fuse", str(a), str(b), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                 "--maps", str(tmp_path / "maps"), "--bit-depth", "16"]) == 0
    img = read_image(out)
    assert img.shape == (48, 56, 3) and img.dtype == np.uint16
    for name in ("wa", "wb", "va", "vb"):
        png = read_image(tmp_path / "maps" / f"f_{name}.png")
        arr = np.load(tmp_path / "maps" / f"f_{name}.npy")
        assert png.dtype == np.uint16 and arr.shape == (48, 56)
        np.testing.assert_allclose(png / 65535, arr, atol=1 / 65535)


def test_fuse_with_released_checkpoint(shared_dir, tmp_path):
    pth = shared_dir / "anchors" / "refusion_official" / "ReFusion_MFIF.pth"
    a = write_image(tmp_path / "a.png", (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8))
    out = tmp_path / "f.png"
    assert main(["fuse", str(a), str(a), "-o", str(out), "--weights", str(pth), "--task", "mfif"]) == 0
    assert read_image(out).shape == (32, 32)


def test_errors_are_one_line_and_write_nothing(pair_dirs, tmp_path, weights, capsys):
    a = pair_dirs[0] / "p0.png"
    out = tmp_path / "never.png"
    small = write_image(tmp_path / "small.png", np.zeros((10, 12), np.uint8))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    cases = [
        ([str(a), str(tmp_path / "missing.png")], "not found"),
        ([str(a), str(small)], "p0.png is 56×48 but small.png is 12×10"),
        ([str(a), str(text)], "not an image"),
        ([str(a), str(a), "--weights", str(text)], "not a readable"),
    ]
    for args, expect in cases:
        assert main(["fuse", *args, "-o", str(out), "--task", "ivif", "--device", "cpu"]) == 2
        assert expect in error_line(capsys)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_unknown_task_is_rejected(pair_dirs, capsys):
    a = str(pair_dirs[0] / "p0.png")
    with pytest.raises(SystemExit) as exc:
        main(["fuse", a, a, "-o", "x.png", "--task", "xray"])
    assert exc.value.code == 2 and "invalid choice" in error_line(capsys)


def test_train_then_resume(pair_dirs, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--out", str(run), "--device", "cpu",
            "--preset", "quick", "--epochs", "1", "--meta-steps", "1", "--fuse-steps", "2", "--crop", "24"]
    assert main(args) == 0
    assert (run / "model.safetensors").is_file()
    capsys.readouterr()
    assert main(args) == 2 and "already holds a run" in error_line(capsys)
    assert main(["resume", str(run), "--device", "cpu"]) == 0  # already complete: nothing to do, still fine
    capsys.readouterr()
    assert main(["resume", str(tmp_path)]) == 2 and "not a training run" in error_line(capsys)


def test_holdout_is_deterministic_disjoint_and_bounded():
    from refusion_core.training.data import holdout

    pairs = [(Path(f"a{i}"), Path(f"b{i}")) for i in range(171)]
    train, val = holdout(pairs, 16)
    assert len(val) == 16 and len(train) == 155 and not set(train) & set(val)
    assert set(train) | set(val) == set(pairs) and holdout(pairs, 16) == (train, val)
    assert holdout(pairs, 0) == (pairs, [])
    with pytest.raises(InputError, match="at least 2 must stay"):
        holdout(pairs[:4], 3)


def test_train_holds_out_what_eval_then_measures(pair_dirs, tmp_path, capsys):
    import json

    run = tmp_path / "run"
    assert main(["train", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--out", str(run), "--device", "cpu",
                 "--preset", "quick", "--epochs", "1", "--meta-steps", "1", "--fuse-steps", "1", "--crop", "24",
                 "--holdout", "1", "--lr-p", "3e-4", "--meta-batch", "3"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert (info["settings"]["lr_p"], info["settings"]["meta_batch"], info["settings"]["lr_f"]) == (3e-4, 3, 2e-4)
    trained = {Path(a).stem for a, _ in info["pairs"]}
    out = tmp_path / "val.json"
    assert main(["eval", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--split", "holdout", "--holdout", "1",
                 "--weights", str(run / "model.safetensors"), "--json", str(out), "--device", "cpu"]) == 0
    held = set(json.loads(out.read_text())["pairs"])  # the pairs' stems
    assert len(trained) == 3 and len(held) == 1 and not trained & held
    capsys.readouterr()
    assert main(["eval", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--split", "holdout",
                 "--json", str(out)]) == 2
    assert "go together" in error_line(capsys)


def test_train_from_manifest_uses_only_the_train_split(shared_dir, tmp_path):
    import json

    from refusion_core.training.data import pairs_from_manifest

    manifest = shared_dir / "datasets" / "manifest.json"
    pairs = pairs_from_manifest(manifest, "roadscene")
    entries = json.loads(manifest.read_text())["ivif/roadscene"]["pairs"]
    train = {e["a"] for e in entries if e["split"] == "train"}
    assert len(pairs) == len(train) and all(str(a.relative_to(manifest.parent)) in train for a, _ in pairs)


def test_info(weights, capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "default weights" in out
    assert main(["info", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "59,856" in out and "7,856" in out and "4,510" in out  # P refusion-p-3 (a new model)


class _SignalledTrainer:
    """Stands in for a Trainer: sends itself ``signum`` at its third step and stops as a trainer does."""

    total_steps, step = 5, 0

    def __init__(self, signum, run_dir):
        self.signum, self.run_dir, self.stop = signum, run_dir, False

    def request_stop(self):
        self.stop = True

    def run(self):
        import os

        from refusion_core.training.events import TrainEvent
        for i in range(self.total_steps):
            if i == 2:
                os.kill(os.getpid(), self.signum)
            if self.stop:
                yield TrainEvent("stopped", step=i, total_steps=5, message="model saved")
                return
            yield TrainEvent("step", step=i + 1, total_steps=5, stage="fuse", lf=0.1, lr=0.1)
        yield TrainEvent("done", step=5, total_steps=5, message="model saved")


@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_signal_stops_training_cleanly_with_its_exit_code(tmp_path, capsys, name, code):
    import signal

    from refusion_core.cli.train import drive
    signum = getattr(signal, name)
    before = signal.getsignal(signum)
    assert drive(_SignalledTrainer(signum, tmp_path / "run")) == code
    err = capsys.readouterr().err
    assert f"stopped by {name}" in err and f"refusion resume {tmp_path / 'run'}" in err
    assert signal.getsignal(signum) == before  # the handler is given back


def test_cuda_out_of_memory_is_one_clear_line(monkeypatch, capsys):
    from refusion_core.cli import info

    def oom(args):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(info, "run", oom)
    assert main(["info"]) == 2
    assert "--device cpu" in error_line(capsys)


def test_python_m_refusion_core_is_the_cli():
    import subprocess
    import sys

    from refusion_core import __version__
    out = subprocess.run([sys.executable, "-m", "refusion_core", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_the_log_file_keeps_the_details_stderr_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REFUSION_LOG_DIR", str(tmp_path / "logs"))
    assert main(["-v", "fuse", str(tmp_path / "missing_a.png"), str(tmp_path / "missing_b.png"),
                 "-o", str(tmp_path / "out.png"), "--task", "ivif"]) == 2
    assert "missing_a.png" in error_line(capsys)  # still one line on stderr
    log = (tmp_path / "logs" / "refusion.log").read_text()
    assert "fuse" in log and "Traceback" in log and "missing_a.png" in log  # the details are in the file
    import logging
    assert logging.getLogger("refusion").handlers[0].level == logging.INFO  # -v
    main(["-q", "info"])
    assert logging.getLogger("refusion").handlers[0].level == logging.ERROR  # -q


@pytest.mark.parametrize("how", ["same path", "relative path", "symbolic link", "hard link"])
def test_fuse_never_overwrites_a_source(pair_dirs, tmp_path, capsys, monkeypatch, how):
    import os
    a, b = pair_dirs[0] / "p0.png", pair_dirs[1] / "p0.png"
    before = a.read_bytes()
    out = a
    if how == "relative path":
        monkeypatch.chdir(a.parent.parent)
        out = Path(a.parent.name) / ".." / a.parent.name / a.name
    elif how == "symbolic link":
        out = tmp_path / "link.png"
        os.symlink(a, out)
    elif how == "hard link":
        out = tmp_path / "hard.png"
        os.link(a, out)
    assert main(["fuse", str(a), str(b), "-o", str(out), "--task", "ivif", "--device", "cpu"]) == 2
    assert "would overwrite the input p0.png" in error_line(capsys)
    assert a.read_bytes() == before


def test_fuse_volume_never_overwrites_a_source(tmp_path, capsys):
    a = tmp_path / "a.nii.gz"
    a.write_bytes(b"not read: refused before")
    assert main(["fuse-volume", str(a), str(tmp_path / "b.nii.gz"), "-o", str(a), "--task", "mif"]) == 2
    assert "would overwrite the input a.nii.gz" in error_line(capsys)


COMMANDS = ["fuse", "align", "fuse-volume", "train", "resume", "eval", "info"]  # the order of 'refusion --help'


def test_each_command_module_registers_one_subcommand_listed_in_help(capsys):
    import argparse
    import importlib
    import pkgutil
    import re

    import refusion_core.cli
    from refusion_core.cli import main as cli_main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    listed = re.search(r"^  \{([a-z,-]+)\}$", capsys.readouterr().out, re.MULTILINE).group(1).split(",")
    assert listed == COMMANDS
    names = []
    for module in cli_main.COMMANDS:
        sub = argparse.ArgumentParser().add_subparsers()
        module.register(sub)
        assert len(sub.choices) == 1, module.__name__
        ((name, parser),) = sub.choices.items()
        assert parser.get_default("func") is module.run, module.__name__
        names.append(name)
    assert names == listed
    # no command module is left out of main.COMMANDS
    found = {m.name for m in pkgutil.iter_modules(refusion_core.cli.__path__)
             if hasattr(importlib.import_module(f"refusion_core.cli.{m.name}"), "register")}
    assert found == {m.__name__.rsplit(".", 1)[1] for m in cli_main.COMMANDS}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_exits_0_and_lists_its_arguments(command, capsys):
    import re

    from refusion_core.cli.main import build_parser

    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(f"usage: refusion {command} [-h]")
    sections = dict(re.findall(r"^(positional arguments|options):\n(.*?)(?:\n\n|\Z)", out, re.MULTILINE | re.DOTALL))
    assert "-h, --help" in sections["options"]
    subcommands = next(a for a in build_parser()._actions if isinstance(a.choices, dict))
    parser = subcommands.choices[command]
    for action in parser._actions:
        if action.option_strings:
            assert all(o in sections["options"] for o in action.option_strings), action.option_strings
        else:
            assert (action.metavar or action.dest) in sections["positional arguments"], action.dest


def test_importing_the_cli_loads_neither_torch_nor_opencv():
    import subprocess
    import sys
    code = "import sys, refusion_core.cli.main; print(sorted({'torch', 'cv2', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
