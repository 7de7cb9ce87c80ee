"""Toolbar icons: simple SVGs in resources/icons (drawn for this project)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from app.core.engine import resources_dir


def icon(name: str) -> QIcon:
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()
