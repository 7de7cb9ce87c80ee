"""The context menu of the image panels: copy the pixel values, save the view as a PNG, fit, 100 %.

"Save view as…" writes the panel **as rendered** (what the ViewBox shows, at the screen's device pixels,
without the title above it), not the array: the array is what File ▸ Export writes.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF
from PySide6.QtGui import QAction, QGuiApplication, QPixmap
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from app.qt.preferences import Preferences
from app.qt.workspace import Workspace
from app.widgets.image_grid import scene_to_pixel
from app.widgets.readout import workspace_readout
from app.widgets.zoom import Zoom


def grab_view(canvas: pg.GraphicsLayoutWidget, view: pg.ViewBox) -> QPixmap:
    """The part of ``canvas`` that ``view`` covers, as drawn."""
    rect = canvas.mapFromScene(view.sceneBoundingRect()).boundingRect() & canvas.viewport().rect()
    return canvas.viewport().grab(rect)


class PanelMenu(QMenu):
    def __init__(self, workspace: Workspace, zoom: Zoom, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.canvas: pg.GraphicsLayoutWidget | None = None
        self.view: pg.ViewBox | None = None
        self.name = ""
        self.pixel: tuple[int, int] | None = None
        self.copy_action = QAction("Copy pixel values", self)
        self.copy_action.triggered.connect(self.copy_pixel)
        self.save_action = QAction("Save view as…", self)
        self.save_action.triggered.connect(self.save_view)
        self.addActions([self.copy_action, self.save_action])
        self.addSeparator()
        self.addActions([zoom.fit_action, zoom.actual_action])

    def attach(self, canvas: pg.GraphicsLayoutWidget, view: pg.ViewBox, name: str) -> None:
        """Offer the menu on ``view`` (a :class:`~app.widgets.panel_box.PanelBox` in ``canvas``)."""
        view.menuRequested.connect(lambda scene_pos, screen_pos: self.open_at(canvas, view, name, scene_pos,
                                                                              screen_pos))

    def open_at(self, canvas: pg.GraphicsLayoutWidget, view: pg.ViewBox, name: str, scene_pos: QPointF,
                screen_pos: QPoint | None = None) -> None:
        """Remember the panel and pixel under the cursor and show the menu (tests leave ``screen_pos`` out)."""
        self.canvas, self.view, self.name = canvas, view, name
        self.pixel = scene_to_pixel(view, scene_pos)
        self.copy_action.setEnabled(self.pixel_line() is not None)
        self.save_action.setEnabled(self.workspace.sources is not None)
        if screen_pos is not None:
            self.popup(screen_pos)

    def pixel_line(self) -> str | None:
        return None if self.pixel is None else workspace_readout(self.workspace, *self.pixel)

    def copy_pixel(self) -> None:
        line = self.pixel_line()
        if line is not None:
            QGuiApplication.clipboard().setText(line)

    def save_view(self) -> None:
        if self.canvas is None:
            return
        preferences = Preferences()
        pair = self.workspace.pairs.current_pair()
        start = Path(preferences.folder("views")) / f"{pair.a.stem if pair else 'view'}_{self.name.lower()}.png"
        path, _ = QFileDialog.getSaveFileName(self.parentWidget(), "Save view as", str(start), "PNG image (*.png)")
        if not path:
            return
        path = Path(path).with_suffix(".png")
        if not grab_view(self.canvas, self.view).save(str(path), "PNG"):
            raise OSError(f"Cannot write {path}")  # the app's excepthook shows it like every error
        preferences.set_folder("views", path.parent)
