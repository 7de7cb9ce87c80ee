"""The models the user can choose: the task's default weights, saved fine-tuned models, imported
released checkpoints (.pth), fine-tuned models of this session not saved yet, and a fresh model
to train from scratch.

Keys are stable strings (``default``, ``user:<path>``, ``pth:<path>``, ``session:<n>``,
``scratch``) so a choice can be stored in QSettings and written into sidecars.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.core import engine

SCRATCH = "scratch"
DEFAULT = "default"


@dataclass(frozen=True)
class ModelEntry:
    key: str
    label: str
    kind: str  # default | user | pth | session | scratch
    path: Path | None = None

    @property
    def can_fuse(self) -> bool:
        return self.kind != "scratch"


class Store(Protocol):
    """Where the catalog keeps the imported checkpoints' paths (:class:`app.qt.preferences.Preferences`)."""

    def json(self, key: str, default: Any) -> Any: ...  # noqa: D102

    def set_json(self, key: str, value: Any) -> None: ...  # noqa: D102


class ModelCatalog:
    def __init__(self, preferences: Store) -> None:
        self._preferences = preferences
        self._session: dict[str, tuple[str, object]] = {}

    # ------------------------------------------------------------------ listing
    def entries(self, task: str) -> list[ModelEntry]:
        default = engine.default_weights(task)
        note = "" if default.exists() else " (not installed)"
        out = [ModelEntry(DEFAULT, f"ReFusion default — {task}{note}", "default", None)]
        files = [("user", p, p.stem) for p in self.user_models()] + \
                [("pth", p, f"{p.name} (released)") for p in self.imported()]
        # the task's own models first; models made for another task stay available (fine-tuning an ivif
        # model on one's own mif pairs is legitimate) but say what they were made for
        tasks = {p: engine.model_task(p) for _, p, _ in files}
        own = [f for f in files if tasks[f[1]] in (task, None)]
        other = [f for f in files if tasks[f[1]] not in (task, None)]
        out += [ModelEntry(f"{kind}:{p}", label, kind, p) for kind, p, label in own]
        out += [ModelEntry(f"{kind}:{p}", f"{label} — {tasks[p]} model", kind, p) for kind, p, label in other]
        out += [ModelEntry(k, label, "session", None) for k, (label, _) in self._session.items()]
        out.append(ModelEntry(SCRATCH, "New model (untrained, for training)", "scratch", None))
        return out

    def get(self, key: str, task: str) -> ModelEntry | None:
        return next((e for e in self.entries(task) if e.key == key), None)

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
        return ModelEntry(f"pth:{path}", f"{path.name} (released)", "pth", path)

    def add_session(self, label: str, bundle: object) -> str:
        key = f"session:{len(self._session) + 1}"
        self._session[key] = (label, bundle)
        return key

    def session_bundle(self, key: str) -> object | None:
        item = self._session.get(key)
        return item[1] if item else None

    def forget_session(self, key: str) -> None:
        self._session.pop(key, None)

    @staticmethod
    def user_model_path(name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_. " else "_" for c in name).strip() or "model"
        return engine.user_models_dir() / f"{safe}.safetensors"
