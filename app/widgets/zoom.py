"""The viewer's zoom: fit, 100 %, zoom in and out as actions with shortcuts, and the percentage box.

**Percent** is device pixels per image pixel × 100: at 100 % one image pixel covers one pixel of the
screen, also on a high-DPI screen (devicePixelRatio 2: one image pixel is half a logical pixel). It is
read from the view's range and size (a ViewBox's local units are the widget's logical pixels), not from
its transform, which pyqtgraph updates only when it paints.

A zoom **target** is a pyqtgraph widget with ``zoom_view`` (the ViewBox to act on), ``image_shape``
(``(H, W)`` or None) and ``fit()``: the side-by-side grid (its panels are linked, so zooming panel A
zooms all four) and the swipe view. :class:`Zoom` acts on one target at a time.

Zoom in / out step through :data:`ZOOM_STEPS` (as photo tools do), so that 100 % is always reachable
from any zoom in a few steps.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QWidget

ZOOM_STEPS = (1, 2, 5, 10, 100 / 6, 25, 100 / 3, 50, 200 / 3, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 3200,
              6400)
"""The percentages zoom in / out step through; the ends are the limits."""
BOX_PERCENTS = (25, 50, 100, 200, 400)
"""The items of the percentage box (any other value can be typed)."""


def view_percent(view: pg.ViewBox, dpr: float) -> float | None:
    """The zoom of ``view`` (see the module docstring); None while it has no size."""
    (x0, x1), _ = view.viewRange()
    width = view.width()
    if width <= 0 or x1 <= x0:
        return None
    return 100.0 * dpr * width / (x1 - x0)


def set_view_percent(view: pg.ViewBox, dpr: float, percent: float) -> None:
    """Zoom ``view`` to ``percent`` about the centre of what it shows."""
    now = view_percent(view, dpr)
    if now is None or percent <= 0:
        return
    factor = now / percent  # scaleBy multiplies the visible range
    view.scaleBy((factor, factor))


def next_step(percent: float, up: bool) -> float:
    """The next of :data:`ZOOM_STEPS` above (``up``) or below ``percent`` (the last one at either end)."""
    if up:
        return next((s for s in ZOOM_STEPS if s > percent * 1.001), ZOOM_STEPS[-1])
    return next((s for s in reversed(ZOOM_STEPS) if s < percent / 1.001), ZOOM_STEPS[0])


def parse_percent(text: str) -> float | None:
    """``"150"``, ``"150 %"``, ``"150%"`` -> 150.0; None for anything else or outside the steps' range."""
    try:
        value = float(text.replace("%", "").strip())
    except ValueError:
        return None
    return value if ZOOM_STEPS[0] <= value <= ZOOM_STEPS[-1] else None


def percent_text(percent: float | None) -> str:
    return "" if percent is None else f"{percent:.0f} %"


class Zoom(QObject):
    """The zoom actions (:attr:`actions`: fit, 100 %, zoom in, zoom out) acting on the current target."""

    changed = Signal(object)  # the target's percent (float), or None when it shows nothing

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.target = None
        self.fit_action = self._action("Fit", self.fit, ["Ctrl+0"], "Fit the image in the view")
        self.actual_action = self._action("100 %", self.actual_size, ["Ctrl+1"],
                                          "One image pixel per screen pixel")
        self.in_action = self._action("Zoom in", self.zoom_in, ["Ctrl++", "Ctrl+="])
        self.out_action = self._action("Zoom out", self.zoom_out, ["Ctrl+-"])
        self.actions = [self.fit_action, self.actual_action, self.in_action, self.out_action]

    def _action(self, text: str, slot, keys: list[str], tip: str = "") -> QAction:  # noqa: ANN001
        action = QAction(text, self.parent())
        action.triggered.connect(slot)
        action.setShortcuts([QKeySequence(k) for k in keys])
        tip = f"{tip or text} ({QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        return action

    def set_target(self, target) -> None:  # noqa: ANN001 - see the module docstring
        if target is self.target:
            return
        if self.target is not None:
            for signal in (self.target.zoom_view.sigRangeChanged, self.target.zoom_view.sigResized):
                signal.disconnect(self._emit)
        self.target = target
        for signal in (target.zoom_view.sigRangeChanged, target.zoom_view.sigResized):
            signal.connect(self._emit)
        self._emit()

    def _emit(self, *_) -> None:  # noqa: ANN002
        self.changed.emit(self.percent())

    def percent(self) -> float | None:
        if self.target is None or self.target.image_shape is None:
            return None
        return view_percent(self.target.zoom_view, self.target.devicePixelRatioF())

    def set_percent(self, percent: float) -> None:
        if self.percent() is not None:
            set_view_percent(self.target.zoom_view, self.target.devicePixelRatioF(), percent)

    def fit(self) -> None:
        if self.target is not None:
            self.target.fit()

    def actual_size(self) -> None:
        self.set_percent(100.0)

    def zoom_in(self) -> None:
        self._step(up=True)

    def zoom_out(self) -> None:
        self._step(up=False)

    def _step(self, up: bool) -> None:
        now = self.percent()
        if now is not None:
            self.set_percent(next_step(now, up))


class ZoomBox(QComboBox):
    """The zoom in percent, live; choose one of :data:`BOX_PERCENTS` or type a value and press Enter."""

    def __init__(self, zoom: Zoom, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zoom = zoom
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.addItems([percent_text(p) for p in BOX_PERCENTS])
        self.setMinimumContentsLength(6)
        self.setToolTip("Zoom (device pixels per image pixel); type a percentage and press Enter")
        self.textActivated.connect(self._on_text)
        self.lineEdit().returnPressed.connect(lambda: self._on_text(self.currentText()))
        zoom.changed.connect(self._show)
        self._show(zoom.percent())

    def _on_text(self, text: str) -> None:
        percent = parse_percent(text)
        if percent is None:
            self._show(self.zoom.percent())  # put the true value back
        else:
            self.zoom.set_percent(percent)

    def _show(self, percent: float | None) -> None:
        self.lineEdit().setText(percent_text(percent))
