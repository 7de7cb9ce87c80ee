"""Keeping windows on screen: a new window fits the available area (the screen less task bars and docks) of
the screen that holds its parent, or of the primary screen, and opens inside it, centred on its parent.

Before a window is first shown its frame (title bar, borders) is unknown on most platforms; the parent's
frame stands in for it (the same window manager decorates both), and once shown the window is checked
again with its own frame (:func:`keep_on_screen`).

Use: ``open_on_screen(window)`` once, before the window is first shown.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMargins, QObject, QRect, QSize, QTimer
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QWidget


def screen_of(widget: QWidget | None) -> QScreen:
    """The screen that holds ``widget``'s window, else the primary screen."""
    screen = widget.window().screen() if widget is not None else None
    return screen or QGuiApplication.primaryScreen()


def frame_margins(window: QWidget, anchor: QWidget | None = None) -> QMargins:
    """The width of ``window``'s frame on each side: its own once shown, else its anchor's, else none."""
    for w in (window, anchor.window() if anchor is not None else None):
        if w is not None and w.isVisible():
            outer, inner = w.frameGeometry(), w.geometry()
            return QMargins(inner.left() - outer.left(), inner.top() - outer.top(),
                            outer.right() - inner.right(), outer.bottom() - inner.bottom())
    return QMargins()


def _clamp(start: int, length: int, lo: int, span: int) -> int:
    """``start`` moved so that ``[start, start + length)`` lies in ``[lo, lo + span)``; ``lo`` when too long."""
    return max(lo, min(start, lo + span - length))


def keep_on_screen(window: QWidget, anchor: QWidget | None = None, centre: bool = False) -> QRect:
    """Shrink ``window`` to the available area of ``anchor``'s screen (or the primary screen) and move it,
    frame included, inside that area; ``centre``: centred on ``anchor`` (on the area without one).
    Returns the area."""
    area = screen_of(anchor if anchor is not None else window).availableGeometry()
    m = frame_margins(window, anchor)
    extra = QSize(m.left() + m.right(), m.top() + m.bottom())
    window.resize(window.size().boundedTo(area.size() - extra))
    outer = window.size() + extra  # a minimum size may keep it larger than asked
    if centre:
        middle = anchor.window().frameGeometry().center() if anchor is not None else area.center()
        x, y = middle.x() - outer.width() // 2, middle.y() - outer.height() // 2
    else:
        x, y = window.frameGeometry().x(), window.frameGeometry().y()
    window.move(_clamp(x, outer.width(), area.x(), area.width()), _clamp(y, outer.height(), area.y(), area.height()))
    return area


class _FirstShow(QObject):
    """Places the window it filters when that window is first shown (:func:`open_on_screen`), then goes."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            watched.removeEventFilter(self)
            anchor = watched.parentWidget()
            keep_on_screen(watched, anchor, centre=True)  # before the window appears
            QTimer.singleShot(0, watched, lambda: keep_on_screen(watched, anchor))  # its own frame is known now
            self.deleteLater()
        return False


def open_on_screen(window: QWidget) -> None:
    """When ``window`` is first shown: fit it to the screen that holds its parent (or the primary screen) and
    put it inside, centred on the parent."""
    window.installEventFilter(_FirstShow(window))
