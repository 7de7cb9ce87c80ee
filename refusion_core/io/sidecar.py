"""The JSON sidecar written beside a fused image (``<stem>.refusion.json``): what made it, from what, with which
model, so that the result can be redone and a later run can tell whether it is still current.

The keys and their order are those of the app's export sidecar (``app.core.writing.sidecar_record``), so that a
result of ``refusion fuse --pairs`` and one exported from the app read alike: ``app``, ``app_version``,
``engine_version``, ``created``, ``python``, ``sources`` (``{"a", "b"}`` or ``{"frames", "fusion"}``),
``input_scaling``, ``exif_copied_from``, ``task``, ``model`` (:func:`model_record`), ``comparison``, ``settings``,
``export``, ``outputs`` (file names written beside it), ``metrics`` (``{model label: {metric: value}}``) and
``redo`` (the ``refusion fuse`` command that makes the image again, :func:`redo_command`; when there is none,
null and ``redo_not_possible`` says why). ``app_version`` is the engine's version where no app wrote the file.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from pathlib import Path

from refusion_core import __version__

SIDECAR_SUFFIX = ".refusion.json"
APP_NAME = "ReFusion Studio"


def sidecar_path(folder: str | os.PathLike, stem: str) -> Path:
    return Path(folder) / f"{stem}{SIDECAR_SUFFIX}"


def sidecar_record(sources: dict, task: str | None, model: dict, outputs: list[str], *,
                   metrics: dict | None = None, input_scaling="auto", exif_copied_from: str | None = None,
                   comparison: dict | None = None, settings: dict | None = None, export: dict | None = None,
                   redo: str | None = None, redo_not_possible: str | None = None,
                   app_version: str | None = None) -> dict:
    """One result's record, JSON-ready (paths as strings). ``sources``: ``{"a": path, "b": path}`` for a pair;
    ``model``: as :func:`model_record` gives it; ``outputs``: the names of the files written for this result;
    ``redo``: the command that makes it again (:func:`redo_command`), or None with ``redo_not_possible``."""
    return {
        "app": APP_NAME,
        "app_version": app_version or __version__,
        "engine_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "sources": {k: ([str(p) for p in v] if isinstance(v, (list, tuple)) else str(v)) for k, v in sources.items()},
        "input_scaling": input_scaling,
        "exif_copied_from": str(exif_copied_from) if exif_copied_from else None,
        "task": task,
        "model": model,
        "comparison": comparison,
        "settings": settings or {},
        "export": export or {},
        "outputs": list(outputs),
        "metrics": metrics or {},
        **({"redo": redo} if redo else {"redo": None, "redo_not_possible": redo_not_possible or "unknown"}),
    }


def redo_command(sources: list, out_name: str, task: str, model: dict, bit_depth: int, stretch_input: str,
                 keep_exif: bool = True, percentiles: tuple[float, float] | None = None,
                 stretch: bool = False) -> str:
    """The ``refusion fuse`` command that makes a fused image again, written as the app writes it (sources, ``-o``
    the output's file name, task, weights file, bit depth, input scaling, then any option off its default)."""
    weights = f" --weights {shlex.quote(model['path'])}" if model.get("path") else ""
    files = " ".join(shlex.quote(str(p)) for p in sources)
    extra = "" if keep_exif else " --no-exif"
    if percentiles is not None and tuple(percentiles) != (0.5, 99.5):
        extra += f" --percentiles {percentiles[0]:g},{percentiles[1]:g}"
    if stretch:
        extra += " --stretch"
    return (f"refusion fuse {files} -o {shlex.quote(out_name)} --task {task}{weights} --bit-depth {bit_depth} "
            f"--stretch-input {stretch_input}{extra}")


def model_record(bundle, device: str, label: str | None = None, kind: str | None = None) -> dict:
    """``model`` of a sidecar for a loaded ``ModelBundle``: the keys of the app's (note, kind, label, key, path,
    sha256, device, meta). ``kind``: ``default`` (the task's default weights), ``pth`` (a released checkpoint) or
    ``user`` (a project model); guessed from the file when not given. ``key`` is written as the app writes its
    method keys (``kind`` or ``kind:path``)."""
    path = getattr(bundle, "path", None)
    if kind is None:
        kind = "pth" if path is not None and Path(path).suffix.lower() in (".pth", ".pt") else "user"
    if label is None:
        label = ("ReFusion default" if kind == "default" else f"{Path(path).name} (released)" if kind == "pth"
                 else Path(path).stem if path is not None else "model")
    meta = dict(getattr(bundle, "meta", {}) or {})
    return {
        "note": None,
        "kind": kind,
        "label": label,
        "key": kind if kind == "default" or path is None else f"{kind}:{path}",
        "path": str(path) if path else None,
        "sha256": getattr(bundle, "sha256", None),
        "device": str(device),
        "meta": {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, type(None), dict, list))},
    }


def write_sidecar(path: str | os.PathLike, record: dict) -> Path:
    """Write a record atomically (readers see the old file or the whole new one)."""
    from refusion_core.io.images import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, json.dumps(record, indent=2, default=str).encode("utf-8"))
    return path


def read_sidecar(path: str | os.PathLike) -> dict | None:
    """A sidecar's record, or None when the file is missing, unreadable or not a sidecar (a JSON object)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
