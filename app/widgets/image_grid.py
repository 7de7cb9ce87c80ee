"""Side-by-side view of A, B, the fused result and the comparison, with linked zoom and pan.

A zoom target (:mod:`app.widgets.zoom`): zooming panel A zooms all four."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal

from app.qt.display import levels
from app.qt.workspace import Workspace
from app.widgets.panel_box import PanelBox, add_panel_box


def scene_to_pixel(view: pg.ViewBox, pos: QPointF) -> tuple[int, int] | None:
    if not view.sceneBoundingRect().contains(pos):
        return None
    p = view.mapSceneToView(pos)
    return math.floor(p.x()), math.floor(p.y())


class ImageGrid(pg.GraphicsLayoutWidget):
    pixelHovered = Signal(int, int)  # image column, row; (-1, -1) when outside

    def __init__(self, workspace: Workspace, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.workspace = workspace
        self.views: dict[str, PanelBox] = {}
        self.items: dict[str, pg.ImageItem] = {}
        self.labels: dict[str, pg.LabelItem] = {}
        self._shape: tuple[int, ...] | None = None
        for i, name in enumerate(workspace.PANELS):
            row, col = divmod(i, 2)
            self.labels[name] = self.addLabel(name, row=2 * row, col=col, size="10pt")
            view = add_panel_box(self, 2 * row + 1, col)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            if self.views:
                view.setXLink(self.views["A"])
                view.setYLink(self.views["A"])
            self.views[name], self.items[name] = view, item
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        workspace.imagesChanged.connect(self._refresh)
        workspace.resultChanged.connect(self._refresh)
        self._refresh()

    @property
    def main_view(self) -> PanelBox:
        return self.views["A"]

    @property
    def zoom_view(self) -> PanelBox:
        return self.views["A"]

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        return self._shape

    def fit(self) -> None:
        """Show the whole image in every panel (they are linked to A's)."""
        self.main_view.fit_image(self._shape)

    def _refresh(self) -> None:
        images, titles = self.workspace.panel_images(), self.workspace.panel_titles()
        for name, img in images.items():
            self.labels[name].setText(titles[name])
            if img is None:
                self.items[name].clear()
            else:
                self.items[name].setImage(img, levels=levels(img), autoLevels=False)
        shape = images["A"].shape[:2] if images["A"] is not None else None
        changed = shape is not None and shape != self._shape
        self._shape = shape
        if changed:
            self.fit()

    def _on_mouse_moved(self, pos: QPointF) -> None:
        for view in self.views.values():
            px = scene_to_pixel(view, pos)
            if px is not None:
                self.pixelHovered.emit(*px)
                return
        self.pixelHovered.emit(-1, -1)

    def rendered(self, name: str) -> np.ndarray | None:
        """The array shown in panel ``name`` (for tests)."""
        return self.items[name].image
