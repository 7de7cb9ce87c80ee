"""The main window: assembles actions, toolbar, menus, docks and the status bar. No logic of its own:
the controllers do the work, :mod:`app.controllers.actions` asks the user, the widgets draw the state."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QToolBar, QWidget

from app import __version__
from app.controllers.actions import ActionHandlers
from app.controllers.exporting import ExportController
from app.controllers.fusing import FusingController
from app.controllers.items import ItemsController
from app.controllers.training import TrainingController
from app.core import engine
from app.core.methods import MethodKey
from app.qt.errors import ErrorHandler
from app.qt.icons import icon
from app.qt.jobs import JobRunner
from app.qt.preferences import Preferences
from app.qt.state import StudioState
from app.widgets.choice_boxes import DeviceBox, ModelBox, TaskBox
from app.widgets.compare_view import CompareView
from app.widgets.loss_plot import LossPlot
from app.widgets.maps_view import MapsView
from app.widgets.metrics_table import MetricsTable
from app.widgets.pair_list import PairListWidget
from app.widgets.status_panel import StatusPanel

STRETCH_LABELS = (("auto", "Auto: stretch raw 16-bit data (narrow range) by its 0.5–99.5 percentiles"),
                  ("none", "Off: use the values as they are"),
                  ("percentile", "Always stretch by the 0.5–99.5 percentiles"))
RESEARCH_NOTE = ("ReFusion Studio is a research tool. Its fused images, including fused medical images, are "
                 "not for clinical diagnosis or treatment decisions.")


def _probe_job():  # noqa: ANN202 - worker job: says which device, then warms PyTorch up
    yield engine.probe_device()
    engine.warm_up()


class MainWindow(QMainWindow):
    def __init__(self, preferences: Preferences | None = None) -> None:
        super().__init__()
        self.setWindowTitle(f"ReFusion Studio {__version__}")
        self.setWindowIcon(icon("app"))
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.preferences = preferences or Preferences()
        self.errors = ErrorHandler(self)
        self.state = state = StudioState.create(self.preferences)
        self.preferences.keep_choices(state.choices)
        self.fusing = FusingController(state, self.errors)
        self.items = ItemsController(state, self._ask)
        self.training = TrainingController(state, self.errors)
        self.exporter = ExportController(state, self.preferences, self.errors, self)
        self.exporter.cached = self.fusing.cached
        self.pair_list = PairListWidget(state.workspace, self.errors)
        self.compare = CompareView(state.choices, state.workspace, state.models)
        self.losses, self.maps, self.metrics = LossPlot(state.activity), MapsView(state.workspace), \
            MetricsTable(state.workspace)
        self.handlers = ActionHandlers(self, state, self.preferences, self.pair_list, self.fusing, self.training,
                                       self.exporter)
        self.setCentralWidget(self.compare)
        self.docks = self._build_docks()
        self.act = self._build_actions()
        self.task_box, self.model_box, self.device_box = (TaskBox(state.choices), ModelBox(state.choices, state.models),
                                                          DeviceBox(state.choices))
        self.model_box.confirm = self.items.confirm_model
        self.toolbar = self._build_toolbar()
        self._build_menus()
        self.status = StatusPanel(state.activity, self.statusBar())
        for signal in (state.activity.busyChanged, state.activity.trainingChanged, state.workspace.pairs.changed,
                       state.workspace.imagesChanged, state.models.changed):
            signal.connect(self._update_actions)
        self.training.trained.connect(self._on_trained)
        self.fusing.sizeMismatch.connect(self._offer_align)
        for signal in (state.workspace.pairs.currentChanged, state.workspace.pairs.setupChanged):
            signal.connect(self._show_item_curves)
        self.pair_list.volumesDropped.connect(self.handlers.open_volumes)
        self.probe = JobRunner(self.errors)  # which device, then PyTorch warmed up: once, after showing
        self.device_checked = False
        self._restore_layout()
        self._update_actions()

    # ------------------------------------------------------------------ building
    def _build_docks(self) -> dict[str, QDockWidget]:
        spec = (("pairs", "Pairs", self.pair_list, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("losses", "Losses", self.losses, Qt.DockWidgetArea.RightDockWidgetArea),
                ("maps", "Weight maps", self.maps, Qt.DockWidgetArea.RightDockWidgetArea),
                ("metrics", "Metrics", self.metrics, Qt.DockWidgetArea.LeftDockWidgetArea))
        docks = {}
        for name, title, widget, area in spec:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            docks[name] = dock
        return docks

    def _action(self, text: str, slot, icon_name: str = "", shortcut: str = "", tip: str = "") -> QAction:  # noqa: ANN001
        action = QAction(icon(icon_name), text, self)
        action.triggered.connect(slot)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text)
        action.setStatusTip(tip or text)
        return action

    def _build_actions(self) -> dict[str, QAction]:
        c = self.handlers
        a = {
            "open": self._action("Open pair…", c.open_pair, "open", "Ctrl+O", "Open two images (A and B)"),
            "open_folders": self._action("Open two folders…", c.open_folders, "folders", "",
                                         "Pair the files of two folders by name"),
            "align": self._action("Align…", c.align, "align", "Ctrl+L",
                                  "Register B to A (or a stack to its first frame): features, ECC, edges or control points"),
            "volumes": self._action("Open volumes (DICOM / NIfTI)…", lambda: c.open_volumes(), "", "Ctrl+Shift+V",
                                    "Browse and fuse medical volumes slice by slice (research use)"),
            "fuse": self._action("Fuse", self.fusing.fuse, "fuse", "Ctrl+Return", "Fuse the current pair"),
            "train": self._action("Train…", c.train, "train", "Ctrl+T", "Fine-tune the model on the pairs in the list"),
            "pause": self._action("Pause", self._on_pause, "pause", "", "Pause or resume the training"),
            "stop": self._action("Stop", self.training.stop, "stop", "", "Stop the training (keeps the weights)"),
            "save_model": self._action("Save fine-tuned model…", lambda: c.save_model(), "save", "Ctrl+S"),
            "import": self._action("Import released checkpoint…", c.import_checkpoint, "import"),
            "export": self._action("Export…", c.export, "export", "Ctrl+E", "Export images, maps and metrics"),
            "swipe": self._action("Swipe view", self.compare.set_swipe, "swipe", "Ctrl+Shift+W",
                                  "Swipe between two images"),
            "reset_layout": self._action("Reset layout", self._reset_layout, "", "", "Put the panels back where they were"),
            "quit": self._action("Quit", self.close, "", "Ctrl+Q"),
        }
        a["pause"].setCheckable(True)
        a["swipe"].setCheckable(True)
        self.compare.mode_tabs.currentChanged.connect(lambda i: a["swipe"].setChecked(bool(i)))
        return a

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Main toolbar")
        bar.setObjectName("toolbar_main")
        bar.setIconSize(QSize(22, 22))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        a = self.act
        bar.addAction(a["open"])
        bar.addAction(a["align"])
        bar.addSeparator()
        for w in (self.task_box, self.model_box, self.device_box):
            bar.addWidget(w)
        bar.addSeparator()
        for name in ("fuse", "train", "pause", "stop", "export", "swipe"):
            bar.addAction(a[name])
        self.addToolBar(bar)
        return bar

    def _build_menus(self) -> None:
        a, menu = self.act, self.menuBar()
        file = menu.addMenu("&File")
        for name in ("open", "open_folders", "align", "volumes", "export"):
            file.addAction(a[name])
        file.addSeparator()
        file.addAction(a["quit"])
        model = menu.addMenu("&Model")
        for name in ("fuse", "train", "pause", "stop", "save_model", "import"):
            model.addAction(a[name])
        view = menu.addMenu("&View")
        view.addAction(a["swipe"])
        view.addSeparator()
        view.addActions(self.compare.zoom_actions)  # fit, 100 %, zoom in, zoom out (their shortcuts work anyway)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addAction(self.toolbar.toggleViewAction())
        view.addSeparator()
        view.addAction(a["reset_layout"])
        self.view_menu = view
        scaling = model.addMenu("Input scaling")
        scaling.setToolTipsVisible(True)
        self.stretch_group = QActionGroup(self)
        for mode, label in STRETCH_LABELS:
            act = scaling.addAction(label)
            act.setCheckable(True)
            act.setData(mode)
            act.setChecked(mode == self.state.choices.stretch)
            self.stretch_group.addAction(act)
        self.stretch_group.triggered.connect(lambda act: self.state.choices.set_stretch(act.data()))
        self.state.choices.stretchChanged.connect(
            lambda mode: [act.setChecked(True) for act in self.stretch_group.actions() if act.data() == mode])
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("About ReFusion Studio", self._about))

    def _about(self) -> None:
        QMessageBox.about(self, "About ReFusion Studio",
                          f"<b>ReFusion Studio {__version__}</b><p>Image fusion with ReFusion (IJCV 2024): "
                          "infrared–visible, medical, multi-focus and multi-exposure, with meta-learned loss "
                          f"weights.</p><p><b>Research use only.</b> {RESEARCH_NOTE}</p>")

    # ------------------------------------------------------------------ state
    def _update_actions(self) -> None:
        status, pairs = self.state.activity.training, self.state.workspace.pairs
        training, busy = status != "idle", bool(self.state.activity.busy)
        a = self.act
        a["fuse"].setEnabled(self.state.workspace.sources is not None and not busy and not training)
        a["train"].setEnabled(len(pairs) > 0 and not training and not busy)
        a["pause"].setEnabled(status in ("running", "paused"))
        a["pause"].setChecked(status == "paused")
        a["pause"].setText("Resume" if status == "paused" else "Pause")
        a["pause"].setIcon(icon("train" if status == "paused" else "pause"))
        a["stop"].setEnabled(status in ("running", "paused"))
        a["export"].setEnabled(len(pairs) > 0 and not busy)
        a["align"].setEnabled(pairs.current_pair() is not None and not busy and not training)
        a["save_model"].setEnabled(bool(self.training.trainers))
        for w in (self.task_box, self.model_box, self.device_box):
            w.setEnabled(not training)

    def _ask(self, title: str, question: str) -> bool:
        Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
        return QMessageBox.question(self, title, question, Yes | No, No) == Yes

    def _show_item_curves(self, *_) -> None:  # noqa: ANN002
        """The loss panel shows the curves of the run that made the selected item's model (a model fine-tuned in
        this session), or nothing; while a training runs, its live curves."""
        if self.state.activity.training != "idle":
            return
        setup = self.state.workspace.pairs.current_setup()
        self.losses.show_steps(self.training.histories.get(setup.model, []) if setup else [])

    def _offer_align(self, why: str) -> None:
        if self._ask("Images of different sizes", f"{why}.\n\nAlign B to A now? (File ▸ Align…: features, ECC, "
                     "edges or control points; the aligned files replace the item)"):
            self.handlers.align()

    def _on_pause(self, checked: bool) -> None:
        (self.training.pause if checked else self.training.resume)()

    def _on_trained(self, key: MethodKey) -> None:
        """The fine-tuned model becomes the model of the items it was trained on (those of its task that had the
        model it started from), and the current item shows what it does if it is one of them."""
        self.fusing.forget()
        task, base = self.training.base
        self.state.workspace.pairs.replace_model(base, key, task)
        n = len([p for p in self.state.workspace.pairs.pairs if self.state.workspace.pairs.setup(p).model == key])
        ended = (self.state.activity.training_outcome or ("finished", ""))[0]  # or stopped (a failed run makes none)
        self.statusBar().showMessage(f"Training {ended}: the fine-tuned model is now the model of the {n} {task} "
                                     "item(s) it was trained on. Save it with Model ▸ Save fine-tuned model…", 10000)
        if self.state.workspace.sources is not None:
            QTimer.singleShot(0, self.fusing.fuse)  # once the training worker has fully ended
        self._update_actions()

    # ------------------------------------------------------------------ device probe (after showing)
    def showEvent(self, event) -> None:  # noqa: ANN001
        super().showEvent(event)
        if not self._probe_started:
            self._probe_started = True
            QTimer.singleShot(300, lambda: self.probe.start(_probe_job, context="Checking the device",
                                                            on_yield=self._on_probed, on_finish=self._on_warm))

    _probe_started = False

    def _on_probed(self, text: str) -> None:
        self.state.activity.set_device_info(f"Device: {text}")
        self.device_box.set_cuda_usable(text.startswith("CUDA"))

    def _on_warm(self) -> None:
        self.device_checked = True

    # ------------------------------------------------------------------ persistence

    def _reset_layout(self) -> None:
        self.restoreState(self._initial_layout)
        self._default_dock_sizes()
        for dock in self.docks.values():
            dock.show()

    def _default_dock_sizes(self) -> None:
        d = self.docks
        self.resizeDocks([d["pairs"], d["losses"]], [270, 460], Qt.Orientation.Horizontal)
        self.resizeDocks([d["pairs"], d["metrics"], d["losses"], d["maps"]], [360, 420, 390, 390],
                         Qt.Orientation.Vertical)

    def _restore_layout(self) -> None:
        self._initial_layout = self.saveState()
        geometry, state = self.preferences.window()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 880)
        if state is None or not self.restoreState(state):
            self._default_dock_sizes()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.handlers.confirm_close():
            event.ignore()
            return
        self.probe.shutdown(5000)
        self.fusing.reads.shutdown(10000)  # a large pair still being read
        self.preferences.set_window(self.saveGeometry(), self.saveState())
        self.preferences.sync()
        event.accept()

    def dock(self, name: str) -> QWidget:
        return self.docks[name]
