"""Files the operating system asks the running app to open (macOS Finder: "Open With", a drop on the Dock
icon, a double-click on a document type the app declares), as ``QFileOpenEvent``s to the application.

macOS sends no command-line arguments for these; Qt turns each file into one event, so the relay gathers the
files of one request and hands them over together (two images make a pair, as two FILES on the command line do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

GATHER_MS = 150
"""The files of one request arrive as consecutive events; those within this time are opened together."""


class FileOpenRelay(QObject):
    """Passes the files of each open request to ``open_paths(list[Path])``, e.g. the pair list's ``add_paths``."""

    def __init__(self, open_paths: Callable[[list[Path]], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.open_paths = open_paths
        self.pending: list[Path] = []
        self.timer = QTimer(self, singleShot=True, interval=GATHER_MS)
        self.timer.timeout.connect(self.flush)
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent) and event.file():
            self.pending.append(Path(event.file()))
            self.timer.start()
            return True
        return False

    def flush(self) -> None:
        paths, self.pending = self.pending, []
        if paths:
            self.open_paths(paths)
