"""A combo box of fusion methods, each item a :class:`~app.core.methods.MethodKey` with a label.

Qt's item data compares Python objects by identity, so the box keeps its keys in a list beside the items
and finds a key by equality.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from app.core.methods import MethodKey


class MethodBox(QComboBox):
    methodActivated = Signal(object)  # MethodKey the user picked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._keys: list[MethodKey] = []
        self.activated.connect(lambda i: self.methodActivated.emit(self._keys[i]))

    def set_methods(self, items: list[tuple[MethodKey, str, str]]) -> None:
        """``(key, label, tool tip)`` per item; keeps the box quiet while refilling."""
        self.blockSignals(True)
        self.clear()
        self._keys = [key for key, _, _ in items]
        for _, label, tip in items:
            self.addItem(label)
            self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.blockSignals(False)

    def index_of(self, key: MethodKey | None) -> int:
        return self._keys.index(key) if key in self._keys else -1

    def method(self, index: int) -> MethodKey | None:
        return self._keys[index] if 0 <= index < len(self._keys) else None

    def current_method(self) -> MethodKey | None:
        return self.method(self.currentIndex())

    def select(self, key: MethodKey | None) -> bool:
        """Show ``key`` (the first item if the box does not have it); True if it has it."""
        index = self.index_of(key)
        self.setCurrentIndex(max(index, 0))
        return index >= 0
