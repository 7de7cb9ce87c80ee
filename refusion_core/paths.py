"""Where things live: bundled resources, the user's data folder, the shared folder beside the checkout.

Resources are looked up, in order, in ``$REFUSION_RESOURCES``, the PyInstaller bundle (``sys._MEIPASS``),
the ``resources/`` folder beside the package (an editable install or a source checkout) and
``<prefix>/share/refusion-studio/resources`` (a wheel: pyproject's data-files put it there).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

APP_NAME = "ReFusionStudio"
APP_AUTHOR = "ReFusion"


def resources_dir() -> Path:
    env = os.environ.get("REFUSION_RESOURCES")
    if env:
        return Path(env)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    beside = Path(__file__).resolve().parent.parent / "resources"
    if beside.is_dir():
        return beside
    for prefix in (sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "refusion-studio" / "resources"
        if installed.is_dir():
            return installed
    return beside


def default_weights_path(task: str) -> Path:
    return resources_dir() / "weights" / f"{task}.safetensors"


def sample_pair_paths(task: str) -> tuple[Path, Path]:
    """The (A, B) files of ``task``'s first pair in the bundled samples' manifest (resources/samples/manifest.json).

    Raises:
        KeyError: the manifest lists no pair for ``task``.
    """
    folder = resources_dir() / "samples"
    for entry in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["pairs"]:
        if entry["task"] == task:
            return folder / entry["a"], folder / entry["b"]
    raise KeyError(f"no sample pair for {task!r} in {folder / 'manifest.json'}")


def _user_dir(env_var: str, kind: str) -> Path:
    """``$env_var`` when set, else platformdirs' per-user folder of ``kind`` ("data", "log") for the app."""
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, APP_AUTHOR))


def user_data_dir() -> Path:
    """Per-user data (fine-tuned models, runs); platformdirs picks the platform's convention."""
    return _user_dir("REFUSION_USER_DATA", "data")


def user_log_dir() -> Path:
    """Where the CLI and the app write their log files (refusion_core.logs)."""
    return _user_dir("REFUSION_LOG_DIR", "log")


def user_models_dir() -> Path:
    return user_data_dir() / "models"


def shared_dir() -> Path | None:
    """``../shared`` beside the checkout (benchmark data, released checkpoints), or None if absent."""
    env = os.environ.get("REFUSION_SHARED")
    cand = Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared"
    return cand if cand.is_dir() else None
