"""The comparison area: the side-by-side grid or the swipe view, the choice of the second result, the
zoom controls (:mod:`app.widgets.zoom`), the panels' context menu (:mod:`app.widgets.panel_menu`) and a
pixel readout of all four images under the cursor (:mod:`app.widgets.readout` gives its format).

:attr:`CompareView.zoom_actions` (fit, 100 %, zoom in, zoom out) carry their shortcuts; they are added
to this widget, so the shortcuts work wherever the window has focus, and the main window lists them in
its View menu."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QTabBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.results import compare_choices
from app.qt.choices import Choices
from app.qt.models import Models
from app.qt.workspace import Workspace
from app.widgets.image_grid import ImageGrid
from app.widgets.method_box import MethodBox
from app.widgets.panel_menu import PanelMenu
from app.widgets.readout import workspace_readout
from app.widgets.swipe_view import SwipeView
from app.widgets.zoom import Zoom, ZoomBox


class CompareView(QWidget):
    def __init__(self, choices: Choices, workspace: Workspace, models: Models, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices, self.workspace, self.models = choices, workspace, models
        self.grid = ImageGrid(workspace)
        self.swipe = SwipeView(workspace)
        self.stack = QStackedWidget()
        self.compare_box = MethodBox()
        self.compare_box.setMinimumContentsLength(18)
        self.compare_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode_tabs = QTabBar()
        self.mode_tabs.setExpanding(False)
        self.mode_tabs.setUsesScrollButtons(False)
        self.mode_tabs.setDrawBase(False)
        self.mode_tabs.addTab("Side by side")
        self.mode_tabs.addTab("Swipe")
        self.left_box, self.right_box = QComboBox(), QComboBox()
        for box, name in ((self.left_box, "A"), (self.right_box, "Fused")):
            box.addItems(workspace.PANELS)
            box.setCurrentText(name)
            box.currentTextChanged.connect(self._on_sides_changed)
        self.readout = QLabel("Move the cursor over an image to read its pixels.")
        self.readout.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long line, no relayout
        workspace.imagesChanged.connect(  # another item (or none): the last item's values never stay on screen
            lambda: self.readout.setText("Move the cursor over an image to read its pixels."))
        self.zoom = Zoom(self)
        self.zoom_actions = self.zoom.actions
        self.addActions(self.zoom_actions)
        self.zoom_box = ZoomBox(self.zoom)
        self.panel_menu = PanelMenu(workspace, self.zoom, self)
        for name, view in self.grid.views.items():
            self.panel_menu.attach(self.grid, view, name)
        self.panel_menu.attach(self.swipe, self.swipe.view, "Swipe")
        self._build_layout()
        self.compare_box.methodActivated.connect(choices.set_compare)
        self.mode_tabs.currentChanged.connect(self.set_swipe)
        self.grid.pixelHovered.connect(self._on_pixel)
        self.swipe.pixelHovered.connect(self._on_pixel)
        for signal in (models.changed, choices.taskChanged, choices.modelChanged, choices.compareChanged):
            signal.connect(self._fill_compare_box)
        self._fill_compare_box()
        self.set_swipe(False)

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Compare with:"))
        bar.addWidget(self.compare_box)
        bar.addSpacing(12)
        bar.addWidget(self.mode_tabs)
        bar.addStretch(1)
        for action in self.zoom_actions:
            button = QToolButton()
            button.setDefaultAction(action)
            bar.addWidget(button)
        bar.addWidget(self.zoom_box)
        swipe_bar = QHBoxLayout()
        for w in (QLabel("Swipe between"), self.left_box, QLabel("and"), self.right_box):
            swipe_bar.addWidget(w)
        swipe_bar.addStretch(1)
        swipe_page = QWidget()
        swipe_layout = QVBoxLayout(swipe_page)
        swipe_layout.setContentsMargins(0, 0, 0, 0)
        swipe_layout.addLayout(swipe_bar)
        swipe_layout.addWidget(self.swipe, 1)
        self.stack.addWidget(self.grid)
        self.stack.addWidget(swipe_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.readout)

    # ------------------------------------------------------------------ modes
    def set_swipe(self, on: bool | int) -> None:
        """Switch modes, carrying the zoom and pan over (the swipe view is not linked live: pyqtgraph
        lines linked views up by screen position, which is wrong for views stacked on each other)."""
        on = bool(on)
        source, target = (self.grid.main_view, self.swipe.view) if on else (self.swipe.view, self.grid.main_view)
        if on != self.swiping and self.workspace.sources is not None:
            target.setRange(source.viewRect(), padding=0)
        self.stack.setCurrentIndex(1 if on else 0)
        self.zoom.set_target(self.swipe if on else self.grid)
        self.mode_tabs.blockSignals(True)
        self.mode_tabs.setCurrentIndex(1 if on else 0)
        self.mode_tabs.blockSignals(False)

    @property
    def swiping(self) -> bool:
        return self.stack.currentIndex() == 1

    def set_swipe_sides(self, left: str, right: str) -> None:
        self.left_box.setCurrentText(left)
        self.right_box.setCurrentText(right)

    def _on_sides_changed(self) -> None:
        self.swipe.set_sides(self.left_box.currentText(), self.right_box.currentText())

    # ------------------------------------------------------------------ second result
    def _fill_compare_box(self) -> None:
        choices = compare_choices(self.models.catalog, self.choices.task, self.choices.model)
        self.compare_box.set_methods([(key, label, label) for key, label in choices])
        if not self.compare_box.select(self.choices.compare) and choices:
            self.choices.set_compare(choices[0][0])

    # ------------------------------------------------------------------ readout
    def _on_pixel(self, x: int, y: int) -> None:
        line = workspace_readout(self.workspace, x, y) if x >= 0 else None
        if line is not None:
            self.readout.setText(line)
