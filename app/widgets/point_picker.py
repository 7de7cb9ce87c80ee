"""Control-point picker: the reference and a moving image side by side; clicks add numbered point pairs.

Click a feature on one image, then the same feature on the other: the two clicks make pair N, numbered
on both images and listed below, where pairs can be removed. Until a pair is complete, another click on
the same image moves its pending point. Drag pans and the wheel zooms (pyqtgraph ViewBoxes). Points are
in full-resolution pixels in the engine's convention (x right, y down, (0, 0) the centre of the
top-left pixel) although the images may be shown smaller (:data:`app.core.align.DISPLAY_SIDE`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from app.core.engine import MIN_POINTS

COLOURS = ("#ffd54f", "#4fc3f7")  # reference, moving


class PointPicker(QWidget):
    pointsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = "homography"
        self.pts: list[list[tuple[float, float]]] = [[], []]  # reference, moving (full-resolution px)
        self._sizes: list[tuple[int, int]] = [(0, 0), (0, 0)]  # (w, h) of each full-resolution image
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setMinimumHeight(220)
        self.titles = [self.canvas.addLabel("Reference", row=0, col=c, size="10pt") for c in (0, 1)]
        self.views = [self.canvas.addViewBox(row=1, col=c, lockAspect=True, invertY=True, enableMenu=False)
                      for c in (0, 1)]
        self.images = [pg.ImageItem(axisOrder="row-major") for _ in (0, 1)]
        self.marks = [pg.ScatterPlotItem(size=10, symbol="+", pen=pg.mkPen(c, width=2)) for c in COLOURS]
        self.numbers: list[list[pg.TextItem]] = [[], []]
        for view, image, mark in zip(self.views, self.images, self.marks):
            view.addItem(image)
            view.addItem(mark)
        self.canvas.scene().sigMouseClicked.connect(self._on_click)
        self.list = QListWidget()
        self.list.setMaximumHeight(96)
        remove, clear = QPushButton("Remove pair"), QPushButton("Clear all")
        remove.clicked.connect(lambda: self.remove_pair(self.list.currentRow()))
        clear.clicked.connect(lambda: self.set_points([], []))
        self.need = QLabel()
        self.need.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(remove)
        side.addWidget(clear)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.need)
        layout.addLayout(row)
        self._refresh()

    # ------------------------------------------------------------------ input
    def set_images(self, ref: np.ndarray, moving: np.ndarray, full_sizes: tuple[tuple[int, int], tuple[int, int]],
                   names: tuple[str, str] = ("reference", "moving image")) -> None:
        """Show two display images; ``full_sizes`` = ((w, h) reference, (w, h) moving) at full resolution."""
        self._sizes = list(full_sizes)
        for c, (img, (w, h), view, item) in enumerate(zip((ref, moving), full_sizes, self.views, self.images)):
            item.setImage(img, levels=(0, 255), autoLevels=False)
            item.setRect(QRectF(0, 0, w, h))
            view.setRange(QRectF(0, 0, w, h), padding=0.02)
            self.titles[c].setText(f"{('Reference', 'Moving')[c]}: {names[c]}")

    def set_model(self, model: str) -> None:
        self.model = model
        self._refresh()

    def set_points(self, ref_pts, moving_pts) -> None:  # noqa: ANN001 - (N, 2) arrays or lists of (x, y)
        """Replace the points (full-resolution px); unequal lengths leave the extra points pending."""
        self.pts = [[(float(x), float(y)) for x, y in np.reshape(p, (-1, 2))] for p in (ref_pts, moving_pts)]
        self._changed()

    def add_point(self, side: int, x: float, y: float) -> None:
        """Add a point on ``side`` (0 reference, 1 moving), or move that side's pending point."""
        if len(self.pts[side]) > len(self.pts[1 - side]):
            self.pts[side][-1] = (x, y)
        else:
            self.pts[side].append((x, y))
        self._changed()

    def remove_pair(self, index: int) -> None:
        if index < 0:
            return
        for side in self.pts:
            if index < len(side):
                del side[index]
        self._changed()

    def _on_click(self, event) -> None:  # noqa: ANN001 - pyqtgraph MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        pos = event.scenePos()
        for side, view in enumerate(self.views):
            w, h = self._sizes[side]
            if w and view.sceneBoundingRect().contains(pos):
                p = view.mapSceneToView(pos)
                x, y = p.x() - 0.5, p.y() - 0.5  # pixel i spans [i, i + 1) in the view; its centre is i
                if -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5:
                    self.add_point(side, x, y)
                    event.accept()
                return

    # ------------------------------------------------------------------ output
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The complete pairs: ((N, 2) reference, (N, 2) moving) points."""
        n = min(map(len, self.pts))
        return tuple(np.array(p[:n], np.float64).reshape(-1, 2) for p in self.pts)  # type: ignore[return-value]

    @property
    def enough(self) -> bool:
        return len(self.pairs()[0]) >= MIN_POINTS[self.model]

    def need_text(self) -> str:
        need, have = MIN_POINTS[self.model], len(self.pairs()[0])
        text = f"A {self.model} needs at least {need} point pair{'s' * (need > 1)}; {have} set."
        if len(self.pts[0]) != len(self.pts[1]):
            where = "moving image" if len(self.pts[0]) > len(self.pts[1]) else "reference"
            return f"{text} Now click the same feature on the {where}."
        return f"{text} Click a distinct feature on either image, then the same feature on the other."

    # ------------------------------------------------------------------ drawing
    def _changed(self) -> None:
        self._refresh()
        self.pointsChanged.emit()

    def _refresh(self) -> None:
        for side, (view, mark) in enumerate(zip(self.views, self.marks)):
            pts = np.array(self.pts[side], np.float64).reshape(-1, 2) + 0.5
            mark.setData(pos=pts)
            for item in self.numbers[side]:
                view.removeItem(item)
            self.numbers[side] = []
            for i, (x, y) in enumerate(pts, 1):
                label = pg.TextItem(str(i), color=COLOURS[side], anchor=(0, 1))
                label.setPos(x, y)
                view.addItem(label)
                self.numbers[side].append(label)
        self.list.clear()
        fmt = lambda p: f"({p[0]:.1f}, {p[1]:.1f})"  # noqa: E731
        for i in range(max(map(len, self.pts))):
            r, m = (fmt(p[i]) if i < len(p) else "…" for p in self.pts)
            self.list.addItem(f"{i + 1}: reference {r}  ↔  moving {m}")
        self.need.setText(self.need_text())
        self.need.setStyleSheet("" if self.enough else "color: #c62828;")
