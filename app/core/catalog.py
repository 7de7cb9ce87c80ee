"""The models the user can choose: the task's default weights, saved fine-tuned models, imported
released checkpoints (.pth), fine-tuned models of this session not saved yet, and a fresh model
to train from scratch. Each is named by a :class:`~app.core.methods.MethodKey` of a model kind.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.core import engine
from app.core.methods import DEFAULT, SCRATCH, MethodKey


@dataclass(frozen=True)
class ModelEntry:
    key: MethodKey
    label: str

    @property
    def kind(self) -> str:
        """default | user | pth | session | scratch"""
        return self.key.kind

    @property
    def path(self) -> Path | None:
        return self.key.path

    @property
    def can_fuse(self) -> bool:
        return self.key != SCRATCH


class Store(Protocol):
    """Where the catalog keeps the imported checkpoints' paths (:class:`app.qt.preferences.Preferences`)."""

    def json(self, key: str, default: Any) -> Any: ...  # noqa: D102

    def set_json(self, key: str, value: Any) -> None: ...  # noqa: D102


class ModelCatalog:
    def __init__(self, preferences: Store) -> None:
        self._preferences = preferences
        self._session: dict[MethodKey, tuple[str, object, str | None]] = {}  # label, bundle, task
        self._numbers = itertools.count(1)

    # ------------------------------------------------------------------ listing
    def entries(self, task: str) -> list[ModelEntry]:
        default = engine.default_weights(task)
        note = "" if default.exists() else " (not installed)"
        out = [ModelEntry(DEFAULT, f"ReFusion default — {task}{note}")]
        files = [MethodKey.user(p) for p in self.user_models()] + [MethodKey.pth(p) for p in self.imported()]
        # the task's own models first; models made for another task stay available (fine-tuning an ivif
        # model on one's own mif pairs is legitimate) but say what they were made for
        tasks = {key: engine.model_task(key.path) for key in files}
        out += [ModelEntry(key, key.label) for key in files if tasks[key] in (task, None)]
        out += [ModelEntry(key, f"{key.label} — {tasks[key]} model") for key in files if tasks[key] not in (task, None)]
        out += [ModelEntry(key, label if t in (task, None) else f"{label} — {t} model")
                for key, (label, _, t) in self._session.items()]
        out.append(ModelEntry(SCRATCH, "New model (untrained, for training)"))
        return out

    def get(self, key: MethodKey, task: str) -> ModelEntry | None:
        return next((e for e in self.entries(task) if e.key == key), None)

    def task_of(self, key: MethodKey) -> str | None:
        """The task a model was made for: a file's metadata or name, a fine-tuned model's training task; None for
        the default and the new model (they are the task's own) and where a file does not say."""
        if key.kind == "session":
            return self._session[key][2] if key in self._session else None
        return engine.model_task(key.path) if key.path is not None else None

    @staticmethod
    def user_models() -> list[Path]:
        folder = engine.user_models_dir()
        return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []

    def imported(self) -> list[Path]:
        return [Path(p) for p in self._preferences.json("models/imported", []) if Path(p).is_file()]

    # ------------------------------------------------------------------ changes
    def import_checkpoint(self, path: Path) -> ModelEntry:
        paths = [str(p) for p in self.imported()]
        if str(path) not in paths:
            self._preferences.set_json("models/imported", paths + [str(path)])
        key = MethodKey.pth(path)
        return ModelEntry(key, key.label)

    def add_session(self, label: str, bundle: object, task: str | None = None) -> MethodKey:
        key = MethodKey.session(next(self._numbers))  # never reused, also after one was saved
        self._session[key] = (label, bundle, task or getattr(bundle, "task", None))
        return key

    def session_bundle(self, key: MethodKey) -> object | None:
        item = self._session.get(key)
        return item[1] if item else None

    def forget_session(self, key: MethodKey) -> None:
        self._session.pop(key, None)

    @staticmethod
    def user_model_path(name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_. " else "_" for c in name).strip() or "model"
        return engine.user_models_dir() / f"{safe}.safetensors"
