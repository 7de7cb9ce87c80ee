"""The volume browser's slice area: the A, B and fused views side by side, all at one slice, the slice slider
with its spin box (1-based) and A's position there, and a readout of the values under the cursor in every view.

Volume A sets the number of slices and their positions; B and the fused volume lie on A's grid
(:mod:`app.core.volumes`). The wheel, the arrow and page keys in any view step all of them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget

from app.core.volumes import modality_label, slice_position, value_text
from app.widgets.volume_view import VolumeView


class VolumeSlices(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views = {"A": VolumeView("A", "open a NIfTI file or a DICOM series folder"),
                      "B": VolumeView("B", "optional: a volume on A's grid"),
                      "Fused": VolumeView("Fused", "open A and B, then Fuse")}
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slice_box = QSpinBox()
        self.slice_label = QLabel()
        self.readout = QLabel("Move the cursor over a slice to read its values.")
        self.readout.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._build_layout()
        self.slider.valueChanged.connect(self.set_slice)
        self.slice_box.valueChanged.connect(lambda v: self.set_slice(v - 1))
        for view in self.views.values():
            view.stepRequested.connect(lambda step: self.set_slice(self.slider.value() + step))
            view.hovered.connect(self._on_hover)
        self.update_range()

    def _build_layout(self) -> None:
        views = QHBoxLayout()
        for view in self.views.values():
            views.addWidget(view, 1)
        slices = QHBoxLayout()
        slices.addWidget(QLabel("Slice"))
        slices.addWidget(self.slider, 1)
        slices.addWidget(self.slice_box)
        slices.addWidget(self.slice_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(views, 1)
        layout.addLayout(slices)
        layout.addWidget(self.readout)

    @property
    def index(self) -> int:
        """The slice shown (0-based)."""
        return self.slider.value()

    def update_range(self) -> None:
        """A was opened or closed: the slider and the spin box span its slices."""
        a = self.views["A"].opened
        n = len(a.volume.data) if a is not None else 0
        for w in (self.slider, self.slice_box):
            w.setEnabled(n > 0)
        self.slider.setRange(0, max(n - 1, 0))
        self.slice_box.setRange(1 if n else 0, n)
        self.slider.setPageStep(max(1, n // 10))
        self._update_label()

    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (0-based, clamped) in every view."""
        a = self.views["A"].opened
        if a is None:
            return
        index = max(0, min(int(index), len(a.volume.data) - 1))
        for w, v in ((self.slider, index), (self.slice_box, index + 1)):
            if w.value() != v:
                w.blockSignals(True)
                w.setValue(v)
                w.blockSignals(False)
        for view in self.views.values():
            view.show_slice(index)
        self._update_label()

    def _update_label(self) -> None:
        a = self.views["A"].opened
        if a is None:
            self.slice_label.setText("no volume")
            return
        k, n = self.slider.value(), len(a.volume.data)
        where = slice_position(a.volume, k)
        self.slice_label.setText(f"{k + 1} of {n}" + (f" · {where}" if where else ""))

    def _on_hover(self, x: int, y: int) -> None:
        if x < 0 or self.views["A"].opened is None:
            return
        parts = []
        for name, view in self.views.items():
            hit = view.value_at(x, y) if view.opened is not None else None
            if hit is None:
                continue
            value, (r, c) = hit
            vol = view.opened.volume
            if not parts:
                parts.append(f"voxel column {c}, row {r}, slice {view.slice_index + 1}")
            kind = "" if vol.modality == "FUSED" else f" ({modality_label(vol.modality)})"
            parts.append(f"{name}{kind}: {value_text(value, vol.units)}")
        self.readout.setText("  ·  ".join(parts))
