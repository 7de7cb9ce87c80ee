"""The four weight maps of the loss proposal module P (w_a, w_b, v_a, v_b) as heatmaps sharing one
colour bar; shows the fused pair's maps, and the preview pair's maps while training (a
:class:`~app.core.view_models.WeightMaps` in the workspace)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.qt.display import colormap
from app.qt.workspace import Workspace

MAPS = (("wa", "w_a  (intensity, A)"), ("wb", "w_b  (intensity, B)"),
        ("va", "v_a  (gradient, A)"), ("vb", "v_b  (gradient, B)"))
"""A caption for each of the engine's maps, in ``app.core.engine.MAP_NAMES``' order (tests/app/widgets/test_maps_view.py
keeps the two in step)."""


class MapsView(QWidget):
    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.title = QLabel("No weight maps yet: fuse with a model that has P, or train.")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # no relayout per update
        self.stretch = QCheckBox("Stretch colours to the maps' range")
        self.stretch.setToolTip("Early in training the maps stay close to 1/2; stretching shows where they start to differ.")
        self.stretch.setChecked(True)
        self.stretch.toggled.connect(lambda on: self._refresh())
        self.canvas = pg.GraphicsLayoutWidget()
        self.views: dict[str, pg.ViewBox] = {}
        self.items: dict[str, pg.ImageItem] = {}
        for i, (key, name) in enumerate(MAPS):
            row, col = divmod(i, 2)
            self.canvas.addLabel(name, row=2 * row, col=col, size="9pt")
            view = self.canvas.addViewBox(row=2 * row + 1, col=col, lockAspect=True, invertY=True, enableMenu=False)
            item = pg.ImageItem(axisOrder="row-major", levels=(0.0, 1.0))
            view.addItem(item)
            if self.views:
                view.setXLink(self.views["wa"])
                view.setYLink(self.views["wa"])
            self.views[key], self.items[key] = view, item
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=colormap(), interactive=False,
                                        width=14, colorMapMenu=False)
        self.colorbar.setImageItem(list(self.items.values()), insert_in=None)
        self.canvas.addItem(self.colorbar, row=0, col=2, rowspan=4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.stretch)
        self._shape: tuple[int, ...] | None = None
        self._dirty = False
        self.timer = QTimer(self)  # previews can come faster than they are worth drawing
        self.timer.setInterval(250)
        self.timer.timeout.connect(self._refresh_if_dirty)
        self.timer.start()
        workspace.mapsChanged.connect(self._on_maps_changed)

    def levels(self, maps: dict[str, np.ndarray]) -> tuple[float, float]:
        """(0, 1), or the common range of the four maps when stretching (w and v share one bar)."""
        if not self.stretch.isChecked():
            return 0.0, 1.0
        lo = float(min(np.min(m) for m in maps.values()))
        hi = float(max(np.max(m) for m in maps.values()))
        return (lo, hi) if hi - lo > 1e-6 else (0.0, 1.0)

    def _on_maps_changed(self) -> None:
        if self.workspace.maps.live:
            self._dirty = True  # training previews: drawn by the timer
        else:
            self._refresh()

    def _refresh_if_dirty(self) -> None:
        if self._dirty:
            self._refresh()

    def _refresh(self) -> None:
        self._dirty = False
        shown = self.workspace.maps
        maps = shown.arrays
        if not maps:
            for item in self.items.values():
                item.clear()
            if not shown.title:
                self.title.setText("No weight maps yet.")
            elif shown.is_stack:
                self.title.setText(f"{shown.title}: P's maps weight the loss of one pair, so a stack "
                                   "fused as a tree of pairs has none.")
            else:
                self.title.setText(f"{shown.title}: this model has no loss proposal module (P), so no maps.")
            return
        self.title.setText(shown.title)
        levels = self.levels(maps)
        for key, item in self.items.items():
            if key in maps:
                item.setImage(np.asarray(maps[key], dtype=np.float32), autoLevels=False, levels=levels)
        self.colorbar.setLevels(levels)
        shape = next(iter(maps.values())).shape
        if shape != self._shape:
            self.views["wa"].autoRange(padding=0.02)
            self._shape = shape
