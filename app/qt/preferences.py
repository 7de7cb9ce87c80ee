"""Persistent preferences (QSettings): folders, window layout, task, model, device, training preset.

Tests isolate them by pointing QSettings' INI path at a temporary folder (tests/app/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from app.core.methods import MethodKey
from app.qt.choices import Choices

ORGANIZATION = "ReFusion"
APPLICATION = "ReFusionStudio"
CHOICES = (("session/task", "task"), ("session/model", "model"), ("session/device", "device"),
           ("session/compare", "compare"), ("session/stretch", "stretch"))
"""Preference key -> the :class:`~app.qt.choices.Choices` attribute kept in it."""


class Preferences:
    def __init__(self) -> None:
        self._q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    def _str(self, key: str, default: str = "") -> str:
        value = self._q.value(key, default)
        return str(value) if value is not None else default

    def folder(self, name: str) -> str:
        return self._str(f"folders/{name}", str(Path.home()))

    def set_folder(self, name: str, folder: str | Path) -> None:
        self._q.setValue(f"folders/{name}", str(folder))

    def value(self, key: str, default: str = "") -> str:
        return self._str(key, default)

    def set_value(self, key: str, value: str) -> None:
        self._q.setValue(key, value)

    def method(self, key: str, default: MethodKey | None = None) -> MethodKey | None:
        """A method stored by :meth:`set_method` (the one place where a key is kept as text)."""
        return MethodKey.parse(self._str(key)) or default

    def set_method(self, key: str, method: MethodKey) -> None:
        self._q.setValue(key, str(method))

    def keep_choices(self, choices: Choices) -> None:
        """Give ``choices`` the values of the last session, and store every change from now on."""
        for key, attr in CHOICES:
            method = isinstance(getattr(choices, attr), MethodKey)
            value = self.method(key) if method else self.value(key, "")
            if value:
                getattr(choices, f"set_{attr}")(value)
            save = self.set_method if method else self.set_value
            getattr(choices, f"{attr}Changed").connect(lambda v, k=key, save=save: save(k, v))

    def json(self, key: str, default):  # noqa: ANN001, ANN201
        try:
            return json.loads(self._str(key, "")) if self._str(key, "") else default
        except ValueError:
            return default

    def set_json(self, key: str, value) -> None:  # noqa: ANN001
        self._q.setValue(key, json.dumps(value))

    def window(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self._q.value("window/geometry"), self._q.value("window/state")

    def set_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)

    def sync(self) -> None:
        self._q.sync()

    def snapshot(self) -> dict:
        """The preferences that matter to redo a result (written into export sidecars)."""
        keys = ("session/task", "session/model", "session/device", "session/compare", "train/preset")
        return {k.split("/", 1)[1]: self._str(k) for k in keys if self._q.contains(k)}
