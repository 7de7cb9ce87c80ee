"""The comparison area as a photo viewer: fit, 100 %, zoom steps and shortcuts, the percentage box, the
panels' context menu, and one readout format in the sources' own units."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.core.results import Result
from app.qt.choices import Choices
from app.qt.models import Models
from app.qt.preferences import Preferences
from app.qt.workspace import Workspace
from app.widgets.compare_view import CompareView
from app.widgets.readout import workspace_readout
from app.widgets.zoom import percent_text
from refusion_core.io.scaling import prepare_input

H, W = 60, 80


def thermal_pair() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(scaled, raw): raw A uint16 counts 30000-40000 (stretched for fusion), B 8-bit RGB (kept)."""
    rng = np.random.default_rng(0)
    a = (30000 + np.add.outer(np.arange(H) * 100, np.arange(W) * 40)).clip(30000, 40000).astype(np.uint16)
    b = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    return (prepare_input(a, "auto"), prepare_input(b, "auto")), (a, b)


def result(image: np.ndarray, label: str) -> Result:
    return Result(image=image, y=np.zeros(image.shape[:2], np.float32), label=label)


@pytest.fixture
def viewer(qtbot):
    workspace = Workspace()
    view = CompareView(Choices(), workspace, Models(Preferences()))
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    scaled, raw = thermal_pair()
    workspace.set_sources(scaled, raw)
    fused = (np.arange(H * W * 3).reshape(H, W, 3) * 7 % 65536).astype(np.uint16)
    workspace.set_results(result(fused, "tiny"), result(raw[1][..., ::-1].copy(), "Average"))
    return view


def visible_width(view) -> float:  # noqa: ANN001
    (x0, x1), _ = view.viewRange()
    return x1 - x0


# ------------------------------------------------------------------ readout
def test_readout_shows_source_units_and_the_stretch_beside(viewer):
    (sa, _), (a, b) = thermal_pair()
    assert sa.dtype == np.uint16 and not np.array_equal(sa, a)  # A was stretched for fusion
    x, y = 41, 30
    viewer._on_pixel(x, y)
    fused, second = viewer.workspace.fused.image, viewer.workspace.second.image
    expected = (f"x {x}, y {y}  ·  A {a[y, x]} ({sa[y, x] / 65535:.3f} stretched)  ·  "
                f"B ({b[y, x, 0]}, {b[y, x, 1]}, {b[y, x, 2]})  ·  "
                f"Fused ({fused[y, x, 0]}, {fused[y, x, 1]}, {fused[y, x, 2]})  ·  "
                f"Compare ({second[y, x, 0]}, {second[y, x, 1]}, {second[y, x, 2]})")
    assert viewer.readout.text() == expected
    assert 30000 <= int(a[y, x]) <= 40000 and 0.2 < sa[y, x] / 65535 < 0.8  # raw counts; the stretch beside


def test_readout_without_stretch_and_outside_the_image(qtbot):
    workspace = Workspace()
    grey = np.full((4, 5), 200, np.uint8)
    workspace.set_sources((grey, np.full((4, 5), 7, np.uint8)))  # raw = scaled: nothing stretched
    assert workspace_readout(workspace, 1, 1) == "x 1, y 1  ·  A 200  ·  B 7"
    assert workspace_readout(workspace, 9, 1) == "x 9, y 1  ·  A –  ·  B –"
    workspace.set_sources(None)
    assert workspace_readout(workspace, 1, 1) is None


# ------------------------------------------------------------------ zoom
def test_actual_size_is_one_image_pixel_per_device_pixel(viewer, monkeypatch):
    view = viewer.grid.zoom_view
    viewer.zoom.actual_action.trigger()
    assert visible_width(view) == pytest.approx(view.width(), rel=1e-3)
    assert viewer.zoom.percent() == pytest.approx(100, rel=1e-3)
    monkeypatch.setattr(viewer.grid, "devicePixelRatioF", lambda: 2.0)  # a high-DPI screen
    viewer.zoom.actual_action.trigger()
    assert visible_width(view) == pytest.approx(2 * view.width(), rel=1e-3)  # half a logical pixel each
    for name in ("B", "Fused", "Compare"):  # the panels stay linked: the same scale
        other = viewer.grid.views[name]
        assert visible_width(other) / other.width() == pytest.approx(2.0, rel=1e-3)


def test_fit_shows_the_whole_image(viewer):
    view = viewer.grid.zoom_view
    for _ in range(4):
        viewer.zoom.in_action.trigger()
    assert not view.viewRect().contains(QRectF(0, 0, W, H))
    viewer.zoom.fit_action.trigger()
    rect = view.viewRect()
    assert rect.contains(QRectF(0, 0, W, H))
    assert min(rect.width() / W, rect.height() / H) < 1.05  # fills the view in one direction


def test_zoom_steps(viewer):
    viewer.zoom.actual_size()
    viewer.zoom.in_action.trigger()
    assert viewer.zoom.percent() == pytest.approx(150, rel=1e-3)
    viewer.zoom.out_action.trigger()
    viewer.zoom.out_action.trigger()
    assert viewer.zoom.percent() == pytest.approx(200 / 3, rel=1e-3)


def test_shortcuts(viewer, qtbot):
    viewer.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is viewer.window(), timeout=2000)
    keys = {a.text(): [k.toString() for k in a.shortcuts()] for a in viewer.zoom_actions}
    assert keys == {"Fit": ["Ctrl+0"], "100 %": ["Ctrl+1"], "Zoom in": ["Ctrl++", "Ctrl+="], "Zoom out": ["Ctrl+-"]}
    qtbot.keyClick(viewer, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom.percent() == pytest.approx(100, rel=1e-3)
    qtbot.keyClick(viewer, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom.percent() == pytest.approx(150, rel=1e-3)
    qtbot.keyClick(viewer, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert viewer.zoom.percent() == pytest.approx(100, rel=1e-3)
    qtbot.keyClick(viewer, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert viewer.grid.zoom_view.viewRect().contains(QRectF(0, 0, W, H))


def wheel(canvas, view, steps: int) -> None:  # noqa: ANN001
    pos = QPointF(canvas.mapFromScene(view.sceneBoundingRect().center()))
    event = QWheelEvent(pos, QPointF(canvas.viewport().mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)


def test_zoom_box_follows_the_wheel_and_sets_the_zoom(viewer, qtbot):
    box, view = viewer.zoom_box, viewer.grid.zoom_view
    before = viewer.zoom.percent()
    wheel(viewer.grid, view, 2)
    assert viewer.zoom.percent() > before * 1.1  # the wheel still zooms
    assert box.currentText() == percent_text(viewer.zoom.percent())
    box.lineEdit().setText("250")
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert viewer.zoom.percent() == pytest.approx(250, rel=1e-3) and box.currentText() == "250 %"
    box.textActivated.emit("400 %")  # chosen from the list
    assert viewer.zoom.percent() == pytest.approx(400, rel=1e-3)
    box.lineEdit().setText("lots")
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert viewer.zoom.percent() == pytest.approx(400, rel=1e-3) and box.currentText() == "400 %"


def test_zoom_acts_on_the_swipe_view_in_swipe_mode(viewer):
    grid_width = visible_width(viewer.grid.zoom_view)
    viewer.set_swipe(True)
    viewer.zoom.actual_action.trigger()
    swipe = viewer.swipe.view
    assert visible_width(swipe) == pytest.approx(swipe.width(), rel=1e-3)
    assert visible_width(viewer.grid.zoom_view) == pytest.approx(grid_width)  # the hidden grid is left alone
    wheel(viewer.swipe, swipe, -1)
    assert viewer.zoom_box.currentText() == percent_text(viewer.zoom.percent()) != "100 %"
    viewer.zoom.fit_action.trigger()
    assert swipe.viewRect().contains(QRectF(0, 0, W, H))


def test_left_drag_still_pans(viewer):
    canvas, view = viewer.grid, viewer.grid.zoom_view
    viewer.zoom.set_percent(400)
    (x0, _), _ = view.viewRange()
    start = canvas.mapFromScene(view.sceneBoundingRect().center())
    port = canvas.viewport()
    for kind, pos, buttons in ((QMouseEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton),
                               (QMouseEvent.Type.MouseMove, start + QPoint(20, 0), Qt.MouseButton.LeftButton),
                               (QMouseEvent.Type.MouseMove, start + QPoint(40, 0), Qt.MouseButton.LeftButton),
                               (QMouseEvent.Type.MouseButtonRelease, start + QPoint(40, 0), Qt.MouseButton.NoButton)):
        QApplication.sendEvent(port, QMouseEvent(kind, QPointF(pos), QPointF(port.mapToGlobal(pos)),
                                                 Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier))
    (x1, _), _ = view.viewRange()
    assert x1 < x0 - 5  # dragged right: the image moved right, the view left


# ------------------------------------------------------------------ context menu
def right_click(canvas, view, x: float, y: float) -> None:  # noqa: ANN001
    pos = canvas.mapFromScene(view.mapViewToScene(QPointF(x, y)))
    port = canvas.viewport()
    for kind, buttons in ((QMouseEvent.Type.MouseButtonPress, Qt.MouseButton.RightButton),
                          (QMouseEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(port, QMouseEvent(kind, QPointF(pos), QPointF(port.mapToGlobal(pos)),
                                                 Qt.MouseButton.RightButton, buttons, Qt.KeyboardModifier.NoModifier))


def test_right_click_opens_the_panel_menu_and_copies_the_pixel(viewer, qtbot):
    menu, view = viewer.panel_menu, viewer.grid.views["B"]
    assert view.menu is None  # pyqtgraph's own menu is never built
    right_click(viewer.grid, view, 5.5, 4.5)
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == \
        ["Copy pixel values", "Save view as…", "Fit", "100 %"]
    assert menu.name == "B" and menu.pixel == (5, 4)
    menu.copy_action.trigger()
    menu.close()
    assert QGuiApplication.clipboard().text() == workspace_readout(viewer.workspace, 5, 4)
    assert QGuiApplication.clipboard().text().startswith("x 5, y 4  ·  A ")


def test_save_view_writes_the_panel_as_rendered(viewer, monkeypatch, tmp_path):
    target = tmp_path / "fused_view"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    view = viewer.grid.views["Fused"]
    viewer.panel_menu.open_at(viewer.grid, view, "Fused", view.mapViewToScene(QPointF(2, 2)))
    viewer.panel_menu.save_action.trigger()
    image = QImage(str(target.with_suffix(".png")))
    dpr = viewer.grid.devicePixelRatioF()
    assert abs(image.width() - view.width() * dpr) <= 2 and abs(image.height() - view.height() * dpr) <= 2
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 10  # the image is in it, not an empty background
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))  # cancelled: nothing happens
    viewer.panel_menu.save_action.trigger()
