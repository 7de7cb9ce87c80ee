"""Fusion metrics of the fused result and of the comparison, side by side."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app import engine
from app.state import StudioState



class MetricsTable(QWidget):
    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.help = engine.metric_descriptions()
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.note = QLabel("Fuse a pair to see its metrics (computed on the luminance, 0..255).")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        state.resultChanged.connect(self._refresh)

    def _refresh(self) -> None:
        metrics = self.state.metrics
        columns = list(metrics)
        names: list[str] = []
        for values in metrics.values():
            names += [n for n in values if n not in names]
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setRowCount(len(names))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setVerticalHeaderLabels(names)
        for r, name in enumerate(names):
            self.table.verticalHeaderItem(r).setToolTip(self.help.get(name, name))
            for c, col in enumerate(columns):
                value = metrics[col].get(name)
                item = QTableWidgetItem("–" if value is None else f"{value:.4g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.note.setVisible(not columns)

    def value(self, column: str, metric: str) -> str:
        cols = [self.table.horizontalHeaderItem(c).text() for c in range(self.table.columnCount())]
        rows = [self.table.verticalHeaderItem(r).text() for r in range(self.table.rowCount())]
        return self.table.item(rows.index(metric), cols.index(column)).text()
