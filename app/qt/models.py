"""The models the user can choose, as a Qt object: the Qt-free :class:`~app.core.catalog.ModelCatalog` plus
a :attr:`Models.changed` signal that the model boxes follow. Every change to the list goes through here."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.core.catalog import ModelCatalog, ModelEntry, Store
from app.core.methods import MethodKey


class Models(QObject):
    changed = Signal()

    def __init__(self, preferences: Store) -> None:
        super().__init__()
        self.catalog = ModelCatalog(preferences)

    def entries(self, task: str) -> list[ModelEntry]:
        return self.catalog.entries(task)

    def get(self, key: MethodKey, task: str) -> ModelEntry | None:
        return self.catalog.get(key, task)

    def task_of(self, key: MethodKey) -> str | None:
        return self.catalog.task_of(key)

    def refresh(self) -> None:
        """Model files appeared or went away in the user models folder."""
        self.changed.emit()

    def import_checkpoint(self, path: Path) -> ModelEntry:
        entry = self.catalog.import_checkpoint(path)
        self.changed.emit()
        return entry

    def add_session(self, label: str, bundle: object, task: str | None = None) -> MethodKey:
        key = self.catalog.add_session(label, bundle, task)
        self.changed.emit()
        return key

    def forget_session(self, key: MethodKey) -> None:
        """A fine-tuned model was saved (it is a user model now) or dropped."""
        self.catalog.forget_session(key)
        self.changed.emit()
