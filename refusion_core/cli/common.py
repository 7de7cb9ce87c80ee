"""What several subcommands share: the model options, the progress-bar callback, and output checks that make a
command's outputs all or nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from refusion_core import TASKS

TASK_KINDS = ("what kind of images are fused, which decides the model (its default weights) and the metrics: "
              "ivif = infrared + visible (a thermal and a colour camera), mif = medical (MRI with CT, PET or "
              "SPECT), mfif = multi-focus (one scene focused near and far), meif = multi-exposure (one scene under- "
              "and over-exposed)")
TASK_HELP = (TASK_KINDS + ". Required unless --weights names a model made for one task (a project .safetensors "
             "records it; a released .pth names it, e.g. ReFusion_MFIF.pth); with both, a model made for another "
             "task is used for --task's, with a note")


def model_args(p: argparse.ArgumentParser, default_task: str | None = None) -> None:
    """``--task``, ``--weights`` and ``--device``. ``--task`` has no default (see :func:`resolve_task`) unless
    ``default_task`` is given (fuse-volume: volumes are medical)."""
    text = TASK_HELP if default_task is None else (f"{TASK_KINDS}. Default: the task of --weights, else "
                                                   f"{default_task}; with both, the model is used for --task's task, with a note")
    p.add_argument("--task", choices=TASKS, help=text)
    p.add_argument("--weights", type=Path, help="project .safetensors or a released .pth (default: the task's "
                   "default weights)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def weights_task(path: Path) -> str | None:
    """The task a model file was made for, read without loading it (a project model's metadata, from the
    safetensors header; a released .pth's file name), or None when the file does not say. A file that is missing
    or not a model raises the WeightsError that loading it would (so the user hears what is wrong with it)."""
    from refusion_core import task_from_name
    from refusion_core.errors import WeightsError

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}")
    if path.suffix.lower() in (".pth", ".pt"):
        return task_from_name(path.stem)
    import json

    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads((fh.metadata() or {}).get("refusion", "{}"))
        task = meta.get("task") if isinstance(meta, dict) and meta.get("format") == "refusion-studio" else None
    except Exception:  # noqa: BLE001 - safetensors raises several types for unreadable files
        task = None
    if task is None:  # not readable as a project model? loading it says why (torch only on this path)
        from refusion_core.models.checkpoint import load_model

        task = load_model(path).task
    return task if task in TASKS else None


def resolve_task(task: str | None, weights=(), option: str = "--weights", default: str | None = None) -> str:
    """The task a command runs: ``--task`` when given, else the one its model files were made for, else
    ``default``. Raises InputError when nothing says which task it is (there is no silent default: fusing
    thermal images with the multi-focus model gives poor results without any error) and when two model files
    say different tasks without ``--task``. A model used for another task than its own, both said explicitly,
    is legitimate (a researcher fusing or fine-tuning an ivif model on medical pairs; the app allows it after
    asking): the command goes on and says so on stderr, one line."""
    import sys

    from refusion_core import TASK_NAMES
    from refusion_core.errors import InputError

    paths = [Path(w) for w in ([weights] if isinstance(weights, (str, Path)) else weights or ()) if w is not None]
    said_by = "--task" if task else None
    for path in paths:
        found = weights_task(path)
        if found is None or found == task:
            continue
        if task is None:
            task, said_by = found, path.name
        elif said_by == "--task":
            print(f"refusion: note: {path.name} was made for {found} ({TASK_NAMES[found]}); it is used for {task} "
                  f"({TASK_NAMES[task]}) as --task says", file=sys.stderr)
        else:
            raise InputError(f"{path.name} was made for {found} ({TASK_NAMES[found]}) but {said_by} says {task} "
                             f"({TASK_NAMES[task]}); say which with --task")
    if task is None:
        task = default
    if task is None:
        unsaid = f"; {', '.join(p.name for p in paths)} does not record one" if paths else ""
        raise InputError(f"--task is required: say what the images are (ivif: infrared + visible, mif: medical, "
                         f"mfif: multi-focus, meif: multi-exposure), or give {option} with a model made for one "
                         f"task{unsaid}")
    return task


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
