"""What several subcommands share: the model options, the progress-bar callback, and output checks that make a
command's outputs all or nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from refusion_core import TASKS


def model_args(p: argparse.ArgumentParser, task: str = "ivif") -> None:
    """``--task`` (default ``task``), ``--weights`` and ``--device``."""
    p.add_argument("--task", choices=TASKS, default=task)
    p.add_argument("--weights", type=Path, help="project .safetensors or a released .pth")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def bar_to(bar, done: int, total: int) -> None:
    """Set a tqdm bar to ``done`` of ``total`` (the engine's ``progress(done, total)`` callbacks)."""
    bar.total = total
    bar.n = done
    bar.refresh()


def check_output_file(path: Path) -> None:
    """Refuse, before any work, an output file that cannot be one: a folder, or under a path that is a file."""
    from refusion_core.errors import OutputError

    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name for the output")
    _check_parents(path.parent)


def check_output_folder(path: Path) -> None:
    """Refuse, before any work, an output folder that is a file or lies under a file."""
    from refusion_core.errors import OutputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file; give a folder for the output")
    _check_parents(path.parent)


def _check_parents(folder: Path) -> None:
    from refusion_core.errors import OutputError

    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"Cannot write under {p}: it is a file, not a folder")
            return


class Outputs:
    """All or nothing for a command's outputs: paths registered with :meth:`add` before they are written are
    deleted again if the command fails (only those that did not exist before), and so are the folders it
    created for them. Each file is written atomically by the engine; this makes the set atomic in effect."""

    def __init__(self):
        self._new: list[Path] = []
        self._dirs: list[Path] = []

    def add(self, path: Path) -> Path:
        path = Path(path)
        if not path.exists():
            self._new.append(path)
        for p in (path.parent, *path.parent.parents):
            if p.exists():
                break
            self._dirs.append(p)
        return path

    def folder(self, path: Path) -> Path:
        """A whole output folder: removed with everything in it on failure if it did not exist before."""
        path = Path(path)
        for p in (path, *path.parents):
            if p.exists():
                break
            self._dirs.append(p)
        return path

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, kind, err, tb) -> None:
        if kind is None:
            return
        import shutil

        for p in self._new:
            p.unlink(missing_ok=True)
        for d in sorted(set(self._dirs), key=lambda p: len(p.parts), reverse=True):
            shutil.rmtree(d, ignore_errors=True)
