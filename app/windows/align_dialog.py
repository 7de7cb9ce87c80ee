"""The Align dialog: register every frame of a pair or stack to the first, judge the result, write it.

For hand-held brackets and focus stacks (Features, ECC) and infrared–visible pairs (ECC on edges, or
manual control points). The dialog's :class:`app.controllers.aligning.Aligner` reads the files, estimates
and writes in jobs, so the window never freezes; closing the dialog during a job aborts the job between two
frames and waits for it. Nothing is written before Accept, and Accept writes a complete folder or
nothing (see :func:`app.core.align_writing.write_job`). Errors reach the user as one sentence through the
:class:`app.qt.errors.ErrorHandler`.

Usage::

    dlg = AlignDialog(pair, errors, parent)
    if dlg.exec() == QDialog.DialogCode.Accepted:
        use(dlg.result_pair)          # a Pair (or stack) of the aligned files; dlg.out_files: all written
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.controllers.aligning import Aligner
from app.core.align import (
    DEFAULT_MODEL,
    METHODS,
    MODELS,
    POINTS,
    PREVIEW_MODES,
    TRANSFORMS_FILE,
    AlignSettings,
    Estimate,
    Loaded,
    overlay,
    points_problem,
    suggest_method,
)
from app.core.pairing import Pair, make_stack
from app.qt.errors import ErrorHandler
from app.qt.screens import open_on_screen
from app.widgets.point_picker import PointPicker


class AlignDialog(QDialog):
    estimated = Signal(object)  # Estimate, after each successful estimate
    aligned = Signal(object)  # the new Pair, once its files are written (the dialog then closes, accepted)

    def __init__(self, pair: Pair, errors: ErrorHandler, parent: QWidget | None = None,
                 out_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Align — {pair.name}")
        self.pair, self.errors, self.fixed_out_dir = pair, errors, out_dir
        self.result_pair: Pair | None = None
        self.out_files: list[Path] = []
        self.aligner = Aligner(pair, errors)
        self.jobs = self.aligner.jobs
        self._method_chosen = False
        self._frame = 1  # the moving frame shown (index into pair.paths)
        self._points: dict[int, list[list[tuple[float, float]]]] = {}  # frame -> [reference, moving], pending kept
        self._preview_shape: tuple[int, int] | None = None
        self._build()
        self.jobs.progressed.connect(self._on_progress)
        self.jobs.runningChanged.connect(lambda _running: self._update_buttons())
        for signal, slot in ((self.aligner.loaded, self._on_loaded), (self.aligner.estimated, self._on_estimated),
                             (self.aligner.written, self._on_written),
                             (self.aligner.failed, self._on_failed)):
            signal.connect(slot)
        self.aligner.load()
        self._started("Reading the images…")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.method = QComboBox()
        for key, label, _ in METHODS:
            self.method.addItem(label, key)
        self.model = QComboBox()
        self.model.addItems(list(MODELS))
        self.crop = QCheckBox("Crop to the common area")
        self.crop.setChecked(True)
        self.crop.setToolTip("Cut every frame to the largest rectangle that all frames cover (no black corners).")
        self.refine = QCheckBox("Refine the control points with ECC on edges")
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setDefault(True)
        self.frame = QComboBox()
        names = [p.name for p in self.pair.paths]
        for i in range(1, len(names)):
            self.frame.addItem(f"{i + 1} of {len(names)}: {names[i]}", i)
        self.frame_label = QLabel("Frame")
        self.frame_label.setVisible(self.pair.is_stack)
        self.frame.setVisible(self.pair.is_stack)
        grid = QGridLayout()
        grid.addWidget(QLabel("Method"), 0, 0)
        grid.addWidget(self.method, 0, 1)
        grid.addWidget(QLabel("Model"), 0, 2)
        grid.addWidget(self.model, 0, 3)
        grid.addWidget(self.crop, 0, 4)
        grid.addWidget(self.estimate_button, 0, 5)
        grid.addWidget(self.frame_label, 1, 0)
        grid.addWidget(self.frame, 1, 1)
        grid.addWidget(self.refine, 1, 2, 1, 3)
        grid.setColumnStretch(6, 1)

        self.mode = QComboBox()
        self.mode.addItems(list(PREVIEW_MODES))
        self.before = QCheckBox("Before alignment")
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setMinimumSize(360, 240)
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.summary = QListWidget()
        rows = min(len(self.pair.paths) - 1, 4)  # one line per moving frame, scrolling past four
        self.summary.setFixedHeight(rows * (self.summary.fontMetrics().height() + 4) + 8)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.mode)
        bar.addWidget(self.before)
        bar.addStretch(1)
        preview = QWidget()
        box = QVBoxLayout(preview)
        box.addLayout(bar)
        box.addWidget(self.canvas, 1)
        box.addWidget(self.summary)
        self.picker = PointPicker()
        self.tabs = QTabWidget()
        self.tabs.addTab(preview, "Preview")
        self.tabs.addTab(self.picker, "Control points")

        self.progress = QProgressBar()
        self._empty_progress()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.out_label = QLabel()
        self.out_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.accept_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.accept_button.setText("Accept")
        self.accept_button.setAutoDefault(False)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.out_label)
        layout.addWidget(self.buttons)
        self.resize(960, 700)
        open_on_screen(self)  # smaller where the screen is, inside it

        self.method.currentIndexChanged.connect(self._on_method)
        self.method.activated.connect(self._mark_method_chosen)
        self.model.currentTextChanged.connect(self._on_model)
        self.crop.toggled.connect(self._invalidate)
        self.refine.toggled.connect(self._invalidate)
        self.estimate_button.clicked.connect(self.estimate)
        self.frame.currentIndexChanged.connect(self._on_frame)
        self.mode.currentTextChanged.connect(self._refresh_preview)
        self.before.toggled.connect(self._refresh_preview)
        self.summary.currentRowChanged.connect(lambda row: row >= 0 and self.frame.setCurrentIndex(row))
        self.picker.pointsChanged.connect(self._on_points)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._on_method()

    # ------------------------------------------------------------------ settings
    def set_method(self, key: str, model: str | None = None) -> None:
        """Choose a method (a key of :data:`app.core.align.METHODS`) and optionally a model other than its default."""
        self._method_chosen = True
        self.method.setCurrentIndex(self.method.findData(key))
        if model is not None:
            self.model.setCurrentText(model)

    def _mark_method_chosen(self) -> None:
        self._method_chosen = True

    def settings(self) -> AlignSettings:
        points = {}
        for i, (ref, mov) in self._points.items():
            n = min(len(ref), len(mov))
            points[i] = (np.array(ref[:n], np.float64).reshape(-1, 2), np.array(mov[:n], np.float64).reshape(-1, 2))
        return AlignSettings(self.method.currentData(), self.model.currentText(), self.crop.isChecked(),
                             self.refine.isChecked(), points)

    def set_points(self, ref_pts, moving_pts, frame: int | None = None) -> None:  # noqa: ANN001
        """Control points (full-resolution px, (N, 2) each) for moving ``frame`` (1 = second file; default:
        the frame shown)."""
        if frame is None or frame == self._frame:
            self.picker.set_points(ref_pts, moving_pts)  # stores them through _on_points
        else:
            self._points[frame] = [[tuple(p) for p in np.reshape(q, (-1, 2))] for q in (ref_pts, moving_pts)]
            self._invalidate()

    def out_dir(self) -> Path:
        """Where Accept writes: the folder given, or one under the user data folder named by a hash."""
        if self.fixed_out_dir is not None:
            return Path(self.fixed_out_dir)
        return self.aligner.out_dir(self.settings())

    def _on_method(self) -> None:
        key = self.method.currentData()
        manual = key == POINTS
        self.model.setCurrentText(DEFAULT_MODEL[key])
        self.refine.setEnabled(manual)
        self.tabs.setTabEnabled(1, manual)
        self.tabs.setCurrentIndex(1 if manual else 0)
        self._invalidate()

    def _on_model(self, model: str) -> None:
        self.picker.set_model(model)
        self._invalidate()

    def _on_points(self) -> None:
        self._points[self._frame] = [list(p) for p in self.picker.pts]
        if self.method.currentData() == POINTS:
            self._invalidate()

    def _on_frame(self) -> None:
        self._frame = self.frame.currentData() or 1
        self._show_frame_in_picker()
        if self.estimation is not None and self.summary.currentRow() != self._frame - 1:
            self.summary.setCurrentRow(self._frame - 1)
        self._refresh_preview()

    def _invalidate(self) -> None:
        """A setting changed: the shown estimate no longer applies."""
        if self.aligner.forget_estimate():
            self.summary.clear()
            self._say("The settings changed; press Estimate again.")
        if not self.busy:
            self._empty_progress()
        self._update_buttons()
        self._refresh_preview()

    # ------------------------------------------------------------------ jobs
    @property
    def busy(self) -> bool:
        return self.aligner.busy

    @property
    def loaded(self) -> Loaded | None:
        return self.aligner.sources

    @property
    def estimation(self) -> Estimate | None:
        return self.aligner.estimation

    def estimate(self) -> bool:
        """Start estimating with the current settings; False if busy, not loaded or too few control points."""
        if self.busy or self.loaded is None:
            return False
        settings = self.settings()
        problem = points_problem(settings, self.loaded.names)
        if problem:
            self._say(problem, error=True)
            self.errors.warn("Align", problem)
            return False
        self._invalidate()
        self.aligner.estimate(settings)
        self._started("Estimating…")
        return True

    def accept(self) -> None:
        """Write the aligned files (in a worker); the dialog closes accepted once they are all written."""
        if self.aligner.write(self.out_dir()):
            self._started("Writing…")

    def done(self, result: int) -> None:
        """Every way of closing ends here: abort a running job between two steps and wait for it; a job
        that ends meanwhile delivers nothing."""
        self.aligner.shutdown()
        super().done(result)

    def _started(self, text: str) -> None:
        self._empty_progress()
        self._say(text)
        self._update_buttons()

    def _empty_progress(self) -> None:
        """Nothing run yet, or the last result no longer stands: the bar is full only after a run ended well."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self._say(text)

    def _on_failed(self, text: str) -> None:
        self._empty_progress()
        self._say(text, error=True)

    def _on_loaded(self, loaded: Loaded) -> None:
        self._empty_progress()  # reading the files is not the alignment the bar reports
        if not self._method_chosen:
            self.method.setCurrentIndex(self.method.findData(suggest_method(loaded.images)))
        self._show_frame_in_picker()
        self._refresh_preview()
        self._say("Choose a method and press Estimate.")

    def _on_estimated(self, est: Estimate) -> None:
        self.summary.clear()
        self.summary.addItems(est.summaries)
        self.summary.setCurrentRow(self._frame - 1)
        box = est.stack.box
        crop = f", cropped to {box[2]}×{box[3]} px at ({box[0]}, {box[1]})" if box else ""
        self._say(f"Registered {len(est.transforms)} frame(s) to {self.pair.a.name}{crop}. "
                  "Check the preview, then Accept to write the aligned files.")
        self.tabs.setCurrentIndex(0)
        self._refresh_preview()
        self._update_buttons()
        self.estimated.emit(est)

    def _on_written(self, files: list[Path]) -> None:
        self.out_files = list(files)
        self.result_pair = make_stack([f for f in files if f.name != TRANSFORMS_FILE])
        self.aligned.emit(self.result_pair)
        super().accept()

    # ------------------------------------------------------------------ display
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c62828;" if error else "")

    def _update_buttons(self) -> None:
        idle = not self.busy
        for w in (self.method, self.model, self.crop, self.frame, self.tabs):
            w.setEnabled(idle)
        self.refine.setEnabled(idle and self.method.currentData() == POINTS)
        self.estimate_button.setEnabled(idle and self.loaded is not None)
        self.accept_button.setEnabled(idle and self.estimation is not None)
        self.out_label.setText(f"Writes to: {self.out_dir()}" if self.estimation else
                               "Nothing is written until you accept an estimate.")

    def _show_frame_in_picker(self) -> None:
        if self.loaded is None:
            return
        i, ld = self._frame, self.loaded
        sizes = tuple((img.shape[1], img.shape[0]) for img in (ld.images[0], ld.images[i]))
        self.picker.set_images(ld.display[0], ld.display[i], sizes, (ld.names[0], ld.names[i]))
        self.picker.blockSignals(True)  # showing a frame's stored points does not change them
        self.picker.set_points(*self._points.get(i, ([], [])))
        self.picker.blockSignals(False)

    def _refresh_preview(self) -> None:
        if self.loaded is None:
            return
        i, est = self._frame, self.estimation
        if est is not None:
            ref, frame = est.reference, (est.before if self.before.isChecked() else est.after)[i - 1]
        else:
            ref, frame = self.loaded.display[0], self.loaded.display[i]
        same = frame.shape[:2] == ref.shape[:2]
        img = overlay(ref, frame if same else ref, self.mode.currentText() if same else "Reference")
        self.image.setImage(img, levels=(0, 255), autoLevels=False)
        if img.shape[:2] != self._preview_shape:
            self._preview_shape = img.shape[:2]
            self.view.autoRange(padding=0.02)
