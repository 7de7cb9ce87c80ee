"""Swipe view: two of the four images on top of each other, split by a line you drag. A zoom target
(:mod:`app.widgets.zoom`)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal

from app.qt.display import levels
from app.qt.workspace import Workspace
from app.widgets.image_grid import scene_to_pixel
from app.widgets.panel_box import PanelBox, add_panel_box


class SwipeView(pg.GraphicsLayoutWidget):
    pixelHovered = Signal(int, int)

    def __init__(self, workspace: Workspace, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.workspace = workspace
        self.left_name, self.right_name = "A", "Fused"
        self._left: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self.label = self.addLabel("", row=0, col=0, size="10pt")
        self.view: PanelBox = add_panel_box(self, 1, 0)
        self.right_item = pg.ImageItem(axisOrder="row-major")
        self.left_item = pg.ImageItem(axisOrder="row-major")
        self.left_item.setZValue(1)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#ffd54f", width=2),
                                    hoverPen=pg.mkPen("#ff8f00", width=3))
        self.line.setZValue(2)
        self.view.addItem(self.right_item)
        self.view.addItem(self.left_item)
        self.view.addItem(self.line, ignoreBounds=True)
        self.line.sigPositionChanged.connect(self._update_split)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        workspace.imagesChanged.connect(self._refresh)
        workspace.resultChanged.connect(self._refresh)
        self._refresh()

    def set_sides(self, left: str, right: str) -> None:
        self.left_name, self.right_name = left, right
        self._refresh()

    @property
    def zoom_view(self) -> PanelBox:
        return self.view

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        return self._shape

    def fit(self) -> None:
        self.view.fit_image(self._shape)

    def set_split(self, fraction: float) -> None:
        if self._shape is not None:
            self.line.setValue(fraction * self._shape[1])

    def _refresh(self) -> None:
        images = self.workspace.panel_images()
        left, right = images[self.left_name], images[self.right_name]
        titles = self.workspace.panel_titles()
        self.label.setText(f"◀ {titles[self.left_name]}   |   {titles[self.right_name]} ▶")
        self._left = left
        if right is None:
            self.right_item.clear()
        else:
            self.right_item.setImage(right, levels=levels(right), autoLevels=False)
        ref = left if left is not None else right
        shape = ref.shape[:2] if ref is not None else None
        if shape is not None and shape != self._shape:
            self.line.setBounds((0, shape[1]))
            self.line.setValue(shape[1] / 2)
        changed = shape != self._shape
        self._shape = shape
        if changed:
            self.fit()
        self._update_split()

    def _update_split(self) -> None:
        left = self._left
        x = int(round(self.line.value()))
        if left is None or x <= 0:
            self.left_item.clear()
            return
        part = np.ascontiguousarray(left[:, : min(x, left.shape[1])])
        self.left_item.setImage(part, levels=levels(left), autoLevels=False)

    def _on_mouse_moved(self, pos: QPointF) -> None:
        px = scene_to_pixel(self.view, pos)
        self.pixelHovered.emit(*(px if px is not None else (-1, -1)))
