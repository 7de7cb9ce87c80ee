"""One panel of the volume browser: a slice of one volume (A, B or fused) with its own window/level
and colour map.

The slice is drawn by a pyqtgraph ImageItem holding the raw values (HU, scanner units, or [0, 1] for
the fused volume); the window is the item's levels and the colour map its lookup table, so changing
either never recomputes arrays. Mouse wheel and arrow / page keys over the image ask for another slice
(``stepRequested``); Ctrl + wheel zooms (pyqtgraph's own wheel zoom), dragging pans.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.core.volumes import (
    COLORMAPS,
    FULL,
    MANUAL,
    Opened,
    default_colormap,
    display_flips,
    levels,
    modality_label,
    oriented,
    render,
    voxel_index,
    window_choices,
)

MODE_LABELS = {"auto": "Auto (percentiles)", "brain": "CT brain 40/80", "soft-tissue": "CT soft tissue 50/400",
               "bone": "CT bone 400/1800", "lung": "CT lung −600/1500", MANUAL: "Manual", FULL: "Full range 0–1"}
KEY_STEPS = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1,
             Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}


def colormap(label: str) -> pg.ColorMap:
    name = COLORMAPS.get(label)
    return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)]) if name is None else pg.colormap.get(name)


def lookup_table(label: str) -> np.ndarray:
    """(256, 3 or 4) uint8 for ImageItem.setLookupTable and :func:`app.core.volumes.render`."""
    return colormap(label).getLookupTable(0.0, 1.0, 256, alpha=False)


class VolumeView(QWidget):
    windowChanged = Signal()
    hovered = Signal(int, int)  # displayed column, row; (-1, -1) outside the image
    stepRequested = Signal(int)  # slices to move (wheel, arrow and page keys)

    def __init__(self, role: str, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role, self.empty_text = role, empty_text
        self.opened: Opened | None = None
        self.flips = (False, False)
        self.slice_index = 0
        self._window: tuple[float, float] = (0.5, 1.0)
        self.note = ""  # replaces the file name on the title's second line while set (e.g. "fuse again")
        self.title = QLabel()  # two lines in every view, so that the three images stay level
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.title.setFixedHeight(2 * self.title.fontMetrics().lineSpacing() + 4)
        self.graphics = pg.GraphicsView()
        self.graphics.setBackground("k")
        self.graphics.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.graphics.setMinimumSize(160, 160)
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.graphics.setCentralItem(self.viewbox)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.viewbox.addItem(self.item)
        self.mode_box, self.cmap_box = QComboBox(), QComboBox()
        self.cmap_box.addItems(list(COLORMAPS))
        self.mode_box.setToolTip("Window/level: a preset, auto (0.5–99.5 percentiles) or manual")
        self.cmap_box.setToolTip("Colour map of this view")
        self.center_box, self.width_box = QDoubleSpinBox(), QDoubleSpinBox()
        for box, tip in ((self.center_box, "Window centre (level), in the volume's units"),
                         (self.width_box, "Window width, in the volume's units")):
            box.setRange(-1e7, 1e7)
            box.setDecimals(3)
            box.setKeyboardTracking(False)
            box.setToolTip(tip)
            box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.width_box.setMinimum(1e-3)
        self._build_layout()
        self.mode_box.activated.connect(lambda i: self.set_mode(self.mode_box.itemData(i)))
        self.cmap_box.currentTextChanged.connect(self._apply_colormap)
        self.center_box.valueChanged.connect(self._on_spin)
        self.width_box.valueChanged.connect(self._on_spin)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.viewport().installEventFilter(self)
        self.graphics.installEventFilter(self)
        self.set_volume(None)

    def _build_layout(self) -> None:
        controls = QGridLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Window"), 0, 0)
        controls.addWidget(self.mode_box, 0, 1, 1, 3)
        controls.addWidget(QLabel("C"), 1, 0)
        controls.addWidget(self.center_box, 1, 1)
        controls.addWidget(QLabel("W"), 1, 2)
        controls.addWidget(self.width_box, 1, 3)
        controls.addWidget(QLabel("Colours"), 2, 0)
        controls.addWidget(self.cmap_box, 2, 1, 1, 3)
        controls.setColumnStretch(1, 1)
        controls.setColumnStretch(3, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(controls)

    # ------------------------------------------------------------------ content
    def set_volume(self, opened: Opened | None) -> None:
        """Show a volume with its modality's default window and colour map (None: empty)."""
        self.opened = opened
        for w in (self.mode_box, self.cmap_box, self.center_box, self.width_box):
            w.setEnabled(opened is not None)
        self.note = ""
        self._refresh_title()
        if opened is None:
            self.item.clear()
            return
        vol = opened.volume
        self.flips = display_flips(vol.affine)
        s, h, w = vol.data.shape
        self.mode_box.blockSignals(True)
        self.mode_box.clear()
        for mode in window_choices(vol.modality):
            self.mode_box.addItem(MODE_LABELS[mode], mode)
        self.mode_box.blockSignals(False)
        steps = max(abs(opened.auto[1]) / 50.0, 1e-3)
        for box in (self.center_box, self.width_box):
            box.setSingleStep(float(f"{steps:.1g}"))
        self.cmap_box.blockSignals(True)
        self.cmap_box.setCurrentText(default_colormap(vol.modality))
        self.cmap_box.blockSignals(False)
        self._apply_colormap(self.cmap_box.currentText())
        self.slice_index = min(self.slice_index, s - 1)
        self._show()
        dy, dx = float(vol.spacing[1]), float(vol.spacing[2])
        self.item.setRect(QRectF(0, 0, w * (dx if dx > 0 else 1.0), h * (dy if dy > 0 else 1.0)))
        self.set_mode(opened.default_mode)
        self.viewbox.autoRange(padding=0.02)

    def set_note(self, note: str) -> None:
        self.note = note
        self._refresh_title()

    def _refresh_title(self) -> None:
        if self.opened is None:
            self.title.setText(f"<b>{self.role}</b><br>{escape(self.empty_text)}")
            self.title.setToolTip("")
            return
        vol = self.opened.volume
        s, h, w = vol.data.shape
        second = f"<span style='color:#b35900'>⚠ {escape(self.note)}</span>" if self.note else escape(vol.name)
        kind = "values 0–1" if vol.modality == "FUSED" else modality_label(vol.modality)
        self.title.setText(f"<b>{self.role}</b> · {kind} · {w}×{h}×{s} voxels<br>{second}")
        self.title.setToolTip(f"{self.opened.path or vol.name}\n{self.note}".strip())

    def show_slice(self, index: int) -> None:
        self.slice_index = index
        if self.opened is not None:
            self._show()

    def _show(self) -> None:
        data = self.opened.volume.data
        k = int(np.clip(self.slice_index, 0, len(data) - 1))
        self.item.setImage(oriented(data[k], self.flips), autoLevels=False, levels=levels(self._window))

    def displayed(self) -> np.ndarray | None:
        """The array the image item draws now (the current slice, oriented)."""
        return self.item.image if self.opened is not None else None

    # ------------------------------------------------------------------ window / colour map
    @property
    def window(self) -> tuple[float, float]:
        """(center, width) now set, in the volume's units."""
        return self._window

    @property
    def mode(self) -> str:
        return self.mode_box.currentData() or MANUAL

    def set_mode(self, mode: str) -> None:
        """A preset, ``auto`` or ``full``; ``manual`` keeps the numbers."""
        if self.opened is None:
            return
        index = self.mode_box.findData(mode)
        self.mode_box.setCurrentIndex(index if index >= 0 else self.mode_box.findData(MANUAL))
        if mode != MANUAL and mode in self.opened.windows:
            self._set_window(self.opened.windows[mode])

    def set_window(self, center: float, width: float) -> None:
        """Manual centre and width."""
        self.mode_box.setCurrentIndex(self.mode_box.findData(MANUAL))
        self._set_window((center, width))

    def _set_window(self, win: tuple[float, float]) -> None:
        self._window = (float(win[0]), max(float(win[1]), 1e-3))
        for box, v in ((self.center_box, self._window[0]), (self.width_box, self._window[1])):
            box.blockSignals(True)
            box.setValue(v)
            box.blockSignals(False)
        self.item.setLevels(levels(self._window))
        self.windowChanged.emit()

    def _on_spin(self) -> None:
        self.set_window(self.center_box.value(), self.width_box.value())

    @property
    def colormap_label(self) -> str:
        return self.cmap_box.currentText()

    def set_colormap(self, label: str) -> None:
        self.cmap_box.setCurrentText(label)

    def _apply_colormap(self, label: str) -> None:
        self.item.setLookupTable(lookup_table(label))

    def picture(self) -> np.ndarray | None:
        """The current slice as displayed: uint8 RGB, one pixel per voxel."""
        img = self.displayed()
        return None if img is None else render(img, self._window, lookup_table(self.colormap_label))

    # ------------------------------------------------------------------ cursor, wheel, keys
    def value_at(self, x: int, y: int) -> tuple[float, tuple[int, int]] | None:
        """(raw value, stored (row, column)) at displayed column x, row y of the current slice."""
        img = self.displayed()
        if img is None:
            return None
        idx = voxel_index(x, y, img.shape, self.flips)
        if idx is None:
            return None
        return float(self.opened.volume.data[self.slice_index][idx]), idx

    def _on_mouse_moved(self, pos: QPointF) -> None:
        if self.opened is None or not self.viewbox.sceneBoundingRect().contains(pos):
            self.hovered.emit(-1, -1)
            return
        p = self.item.mapFromScene(pos)
        self.hovered.emit(math.floor(p.x()), math.floor(p.y()))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Wheel and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.stepRequested.emit(1 if delta > 0 else -1)
            return True
        if event.type() == QEvent.Type.KeyPress and event.key() in KEY_STEPS:
            self.stepRequested.emit(KEY_STEPS[event.key()])
            return True
        return super().eventFilter(obj, event)
