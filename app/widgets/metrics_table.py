"""Fusion metrics of the fused result and of the comparison, side by side."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app.core import engine
from app.qt.workspace import Workspace


class MetricsTable(QWidget):
    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.info = engine.metric_info()
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.note = QLabel(self.EMPTY)
        self.note.setWordWrap(True)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.note)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)
        workspace.resultChanged.connect(self._refresh)

    EMPTY = "Fuse a pair to see its metrics (computed on the luminance, 0..255)."
    STACK = ("The fusion metrics compare a result with two sources, so a stack has none; compare the fused "
             "stack with the classical one by eye (swipe view).")

    def _columns(self) -> dict[str, tuple[str, dict[str, float]]]:
        """Short headers ("Fused", "Compare") -> (the method's full name, its metrics)."""
        out = {}
        for header, result in (("Fused", self.workspace.fused), ("Compare", self.workspace.second)):
            if result is not None and result.metrics:
                out[header] = (result.label, result.metrics)
        return out

    def _refresh(self) -> None:
        columns = self._columns()
        metrics = {h: values for h, (_, values) in columns.items()}
        names: list[str] = []
        for values in metrics.values():
            names += [n for n in values if n not in names]
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setRowCount(len(names))
        self.table.setHorizontalHeaderLabels(list(columns))
        for c, (label, _) in enumerate(columns.values()):
            self.table.horizontalHeaderItem(c).setToolTip(label)
        self.caption.setText("<br>".join(f"<b>{h}</b>: {label}" for h, (label, _) in columns.items()))
        self.table.setVerticalHeaderLabels(names)
        for r, name in enumerate(names):
            description, higher = self.info.get(name, (name, True))
            self.table.verticalHeaderItem(r).setToolTip(f"{description} ({'higher' if higher else 'lower'} is better)")
            values = [metrics[col].get(name) for col in columns]
            known = [v for v in values if v is not None]
            best = (max if higher else min)(known) if len(known) > 1 else None
            for c, value in enumerate(values):
                item = QTableWidgetItem("–" if value is None else f"{value:.4g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if value is not None and value == best:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        fused = self.workspace.fused
        self.note.setText(self.STACK if fused is not None and fused.is_stack else self.EMPTY)
        self.note.setVisible(not columns)
        self.caption.setVisible(bool(columns))

    def value(self, column: str, metric: str) -> str:
        cols = [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]
        rows = [self.table.verticalHeaderItem(r).text() for r in range(self.table.rowCount())]
        return self.table.item(rows.index(metric), cols.index(column)).text()
