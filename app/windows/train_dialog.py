"""The small dialog that starts a fine-tuning: a preset, a few of its numbers, scratch or not."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.controllers.training import TrainRequest
from app.core import engine

FIELDS = (("epochs", "Epochs (L)", 1, 1000), ("meta_steps", "Meta steps per epoch (M)", 0, 100000),
          ("fuse_steps", "Fusion steps per epoch (N)", 0, 100000), ("crop", "Crop size (px)", 16, 1024),
          ("batch", "Batch size", 1, 64))


class TrainDialog(QDialog):
    def __init__(self, preset: str, model_label: str, n_pairs: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune the model")
        self.preset = QComboBox()
        self.preset.addItems(list(engine.preset_names()))
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        form.addRow("Preset", self.preset)
        for name, label, lo, hi in FIELDS:
            spin = QSpinBox()
            spin.setRange(lo, hi)
            self.spins[name] = spin
            form.addRow(label, spin)
        self.scratch = QCheckBox("Start from a new, untrained model")
        self.steps = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Train")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Fine-tunes <b>{model_label}</b> on the {n_pairs} pair(s) in the list."))
        layout.addLayout(form)
        layout.addWidget(self.scratch)
        layout.addWidget(self.steps)
        layout.addWidget(buttons)
        self.preset.currentTextChanged.connect(self._load_preset)
        for spin in self.spins.values():
            spin.valueChanged.connect(self._update_total)
        if self.preset.findText(preset) >= 0:
            self.preset.setCurrentText(preset)
        self._load_preset(self.preset.currentText())

    def _load_preset(self, name: str) -> None:
        settings = engine.train_settings(name)
        for key, spin in self.spins.items():
            spin.setValue(int(getattr(settings, key)))
        self._update_total()

    def _update_total(self) -> None:
        settings = dataclasses.replace(engine.train_settings(self.preset.currentText()),
                                       **{k: s.value() for k, s in self.spins.items()})
        self.steps.setText(f"{settings.total_steps} steps in all.")

    def request(self) -> TrainRequest:
        base = engine.train_settings(self.preset.currentText())
        overrides = {k: s.value() for k, s in self.spins.items() if s.value() != getattr(base, k)}
        return TrainRequest(self.preset.currentText(), overrides, self.scratch.isChecked())
