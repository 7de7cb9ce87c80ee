"""The ViewBox of an image panel: pyqtgraph's zoom and pan, the app's context menu instead of pyqtgraph's.

A right *click* asks for the menu (:attr:`PanelBox.menuRequested`); a right *drag* still zooms, the wheel
zooms and a left drag pans, as pyqtgraph does (its click events come only when the mouse did not drag, so
the menu and the drag zoom do not get in each other's way).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal


class PanelBox(pg.ViewBox):
    menuRequested = Signal(QPointF, object)  # scene position, screen position (QPoint)

    def __init__(self, **kwargs) -> None:  # noqa: ANN003 - pg.ViewBox's
        super().__init__(enableMenu=False, **kwargs)  # pyqtgraph's menu is never built

    def fit_image(self, shape: tuple[int, ...] | None) -> None:
        """Show the whole image of ``shape`` (h, w, ...), explicitly: a split line or a cut image beside it would
        skew pyqtgraph's autoRange."""
        if shape is not None:
            self.setRange(QRectF(0, 0, shape[1], shape[0]), padding=0.02)

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001, N802 - pyqtgraph's name
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.menuRequested.emit(ev.scenePos(), ev.screenPos().toPoint())
        else:
            super().mouseClickEvent(ev)


def add_panel_box(layout: pg.GraphicsLayoutWidget, row: int, col: int) -> PanelBox:
    """A :class:`PanelBox` (aspect locked, y down, as images are) in ``layout``'s cell."""
    view = PanelBox(lockAspect=True, invertY=True)
    layout.addItem(view, row=row, col=col)
    return view
