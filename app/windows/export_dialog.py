"""Export options: folder, format and depth, what to write, this pair or all of them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.core.writing import ExportOptions


class ExportDialog(QDialog):
    def __init__(self, folder: str, n_pairs: int, parent: QWidget | None = None, sixteen_bit: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.fmt = QComboBox()
        self.fmt.addItem("PNG", "png")
        self.fmt.addItem("TIFF", "tif")
        self.depth = QComboBox()
        self.depth.addItem("8 bit", 8)
        self.depth.addItem("16 bit", 16)
        self.depth.setCurrentIndex(1 if sixteen_bit else 0)  # 16-bit sources keep their depth by default
        self.fused = QCheckBox("Fused image (colour kept)")
        self.second = QCheckBox("Comparison image")
        self.maps = QCheckBox("Weight maps (16-bit PNG + colour-mapped PNG)")
        self.metrics = QCheckBox("Metrics (one CSV per task: metrics_<task>.csv)")
        self.exif = QCheckBox("Keep the camera's EXIF (from A; where the format allows)")
        for box in (self.fused, self.maps, self.metrics, self.exif):
            box.setChecked(True)
        self.current = QRadioButton("This pair")
        self.all = QRadioButton(f"All {n_pairs} pairs in the list")
        self.current.setChecked(True)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Format", self.fmt)
        form.addRow("Depth", self.depth)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for w in (self.fused, self.second, self.maps, self.metrics, self.exif, self.current, self.all, buttons):
            layout.addWidget(w)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def options(self) -> ExportOptions:
        return ExportOptions(
            folder=Path(self.folder.text()).expanduser(), fmt=self.fmt.currentData(),
            bit_depth=self.depth.currentData(), fused=self.fused.isChecked(), second=self.second.isChecked(),
            maps=self.maps.isChecked(), metrics=self.metrics.isChecked(), keep_exif=self.exif.isChecked(),
            scope="all" if self.all.isChecked() else "current")
