"""The volume slice browser: open one volume (A) or two (A and B, e.g. MRI + CT/PET/SPECT) from NIfTI
files or DICOM series folders, browse them side by side with the fused volume at the same slice, set
window/level and colour maps per view, fuse A and B slice by slice with a ``mif`` model, and export the
raw fused values (NIfTI float32), a picture of the current fused slice (PNG) and a JSON sidecar.

A yellow bar that cannot be closed says the tool is for research use, not diagnosis. Reading, fusing
and writing run in the window's :class:`app.qt.jobs.JobRunner` (one job at a time, with a progress bar;
fusing can be cancelled between slices); torch is imported only there. The logic lives in :mod:`app.core.volumes`.

The views, the slice slider and the cursor readout are :class:`app.widgets.volume_slices.VolumeSlices`. The
window opens inside the screen that holds its parent (:func:`app.qt.screens.open_on_screen`).

Use: ``VolumeWindow(catalog, preferences, errors, parent).show()``, then ``open_paths(a, b=None)`` or the
Open buttons.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.catalog import ModelCatalog
from app.core.methods import DEFAULT
from app.core.volumes import (
    NIFTI_FILTER,
    RESEARCH_NOTE,
    TASK,
    FusedVolume,
    export_job,
    export_paths,
    fuse_job,
    load_job,
    sidecar,
)
from app.qt.errors import ErrorHandler
from app.qt.jobs import JobRunner
from app.qt.preferences import Preferences
from app.qt.screens import open_on_screen
from app.widgets.method_box import MethodBox
from app.widgets.volume_slices import VolumeSlices

NOTE_STYLE = "background: #ffe066; color: #3a2f00; padding: 5px 8px; font-weight: bold;"


class VolumeWindow(QMainWindow):
    volumesChanged = Signal()  # A or B opened (or B dropped)
    fusedChanged = Signal(object)  # the fused refusion_core.medical.volumes.Volume, or None
    exported = Signal(list)  # the written paths
    busyChanged = Signal(bool)

    def __init__(self, catalog: ModelCatalog, preferences: Preferences, errors: ErrorHandler,
                 parent: QWidget | None = None, device: str | None = None) -> None:
        super().__init__(parent)
        self.catalog, self.preferences, self.errors = catalog, preferences, errors
        self.device = device or preferences.value("session/device", "auto") or "auto"
        self.setWindowTitle("Volumes — ReFusion Studio")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.jobs = JobRunner(errors)
        self.jobs.progressed.connect(self._on_progress)
        self.jobs.runningChanged.connect(self._on_running)
        self.fused: FusedVolume | None = None
        self.note = QLabel(f"⚠ {RESEARCH_NOTE}")
        self.note.setStyleSheet(NOTE_STYLE)
        self.note.setWordWrap(True)
        self.slices = VolumeSlices()
        self.views = self.slices.views
        self.open_a, self.open_b = self._open_button("A"), self._open_button("B")
        self.model_box = MethodBox()
        self.model_box.setToolTip("Model (task mif · medical) used to fuse the volumes")
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_box.setMinimumContentsLength(14)
        self.fuse_button, self.cancel_button = QPushButton("Fuse"), QPushButton("Cancel")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the raw fused values (NIfTI float32), the current fused slice as "
                                      "displayed (PNG) and a JSON sidecar")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self._build_layout()
        self.fuse_button.clicked.connect(self.fuse)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.export)
        self.model_box.methodActivated.connect(lambda key: self.preferences.set_method("volumes/model", key))
        for name in ("A", "B"):
            self.views[name].windowChanged.connect(self._update_fused_title)
        self.fill_models()
        self._update()

    def _open_button(self, name: str) -> QPushButton:
        button = QPushButton(f"Open {name}")
        button.setToolTip(f"Open volume {name}: a NIfTI file (.nii, .nii.gz) or a folder holding one DICOM series")
        menu = QMenu(button)
        menu.addAction("NIfTI file…", lambda: self._browse(name, folder=False))
        menu.addAction("DICOM series folder…", lambda: self._browse(name, folder=True))
        button.setMenu(menu)
        return button

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        for w in (self.open_a, self.open_b):
            bar.addWidget(w)
        bar.addSpacing(10)
        bar.addWidget(QLabel("Model:"))
        bar.addWidget(self.model_box, 1)
        for w in (self.fuse_button, self.progress, self.cancel_button, self.export_button):
            bar.addWidget(w)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.note)
        layout.addLayout(bar)
        layout.addWidget(self.slices, 1)
        self.setCentralWidget(central)
        self.resize(980, 620)  # smaller where the screen is
        open_on_screen(self)

    # ------------------------------------------------------------------ state
    @property
    def a(self):  # noqa: ANN201 - Opened | None
        return self.views["A"].opened

    @property
    def b(self):  # noqa: ANN201
        return self.views["B"].opened

    @property
    def busy(self) -> bool:
        return self.jobs.running

    def fill_models(self) -> None:
        """The catalog's mif models that can fuse; the remembered one, else the shipped default."""
        self.model_box.set_methods([(e.key, e.label, str(e.path or e.label)) for e in self.catalog.entries(TASK)
                                    if e.can_fuse])
        self.model_box.select(self.preferences.method("volumes/model", DEFAULT))

    def _update(self) -> None:
        idle, a, b = not self.busy, self.a is not None, self.b is not None
        self.open_a.setEnabled(idle)
        self.open_b.setEnabled(idle and a)
        self.fuse_button.setEnabled(idle and a and b and self.model_box.count() > 0)
        self.export_button.setEnabled(idle and self.fused is not None)
        self.cancel_button.setVisible(not idle)
        self.progress.setVisible(not idle)
        self.slices.update_range()

    def _update_fused_title(self) -> None:
        """Flag the fused view when A's or B's window has changed since fusing (the fused volume then
        no longer matches what A and B show)."""
        f = self.fused
        if f is None:
            return
        same = (self.views["A"].window, self.views["B"].window) == (f.window_a, f.window_b)
        self.views["Fused"].set_note("" if same else "windows changed: Fuse again")

    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (0-based, clamped) in every view."""
        self.slices.set_slice(index)

    def _set_fused(self, fused: FusedVolume | None) -> None:
        self.fused = fused
        self.views["Fused"].set_volume(fused.opened if fused else None)
        self.views["Fused"].show_slice(self.slices.index)
        self._update_fused_title()
        self.fusedChanged.emit(fused.opened.volume if fused else None)

    # ------------------------------------------------------------------ workers
    def _run(self, job, *args, on_done, context: str) -> bool:  # noqa: ANN001
        """Start ``job`` unless one runs. Its errors reach the error handler under ``context``; the engine's
        own (unreadable file, mismatched grids, missing model) in one sentence, others with details for a
        bug report."""
        if self.busy:
            return False
        self.progress.setRange(0, 0)
        self.jobs.start(job, *args, context=context, brief_errors=True, on_result=on_done,
                        on_abort=lambda: self.statusBar().showMessage("Cancelled", 5000),
                        on_error=lambda exc: self.statusBar().clearMessage())
        return True

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.statusBar().showMessage(text)

    def _on_running(self, running: bool) -> None:
        self._update()
        self.busyChanged.emit(running)

    def cancel(self) -> None:
        self.jobs.abort()

    def wait(self, ms: int = 60000) -> None:
        """Block until the running job (if any) has ended (for scripts and tests)."""
        self.jobs.wait(ms)

    # ------------------------------------------------------------------ opening
    def _browse(self, name: str, folder: bool) -> None:
        start = self.preferences.folder("volumes")
        if folder:
            path = QFileDialog.getExistingDirectory(self, f"DICOM series folder for {name}", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"NIfTI volume for {name}", start, NIFTI_FILTER)
        if not path:
            return
        self.preferences.set_folder("volumes", Path(path).parent if not folder else Path(path))
        self.open_paths(path, None) if name == "A" else self.open_paths(None, path)

    def open_paths(self, a: str | Path | None, b: str | Path | None = None) -> bool:
        """Read volume A and/or B in a worker (a: None keeps A). B must lie on A's grid, else it is not
        opened and one message says why. Returns False when a job is running already."""
        if a is None and b is None:
            return False
        return self._run(load_job, a, b, None if a is not None else self.a,
                         on_done=lambda r: self._on_loaded(r, a is not None), context="Cannot open the volume")

    def _on_loaded(self, result: tuple, new_a: bool) -> None:
        a, b, problem = result
        if new_a:
            self.views["A"].set_volume(a)
            self.views["B"].set_volume(None)
        if b is not None:
            self.views["B"].set_volume(b)
        if new_a or b is not None:  # a rejected B leaves B and the fused volume as they were
            self._set_fused(None)
        self._update()
        self.set_slice(len(a.volume.data) // 2 if new_a else self.slices.index)
        self.statusBar().showMessage("Opened " + " and ".join(v.volume.name for v in (self.a, self.b) if v), 8000)
        self.volumesChanged.emit()
        if problem:
            self.errors.warn("The volumes do not match", problem)

    # ------------------------------------------------------------------ fusing
    def fuse(self) -> bool:
        """Fuse A and B slice by slice with the chosen model, using the windows set in the A and B views."""
        if self.a is None or self.b is None or self.model_box.count() == 0:
            return False
        key = self.model_box.current_method()
        return self._run(fuse_job, self.catalog, key, self.device, self.a, self.b,
                         self.views["A"].window, self.views["B"].window,
                         on_done=self._on_fused, context="Cannot fuse the volumes")

    def _on_fused(self, fused: FusedVolume) -> None:
        self._set_fused(fused)
        dev = fused.model.get("device", "")
        self.statusBar().showMessage(f"Fused {len(fused.opened.volume.data)} slices on {dev}", 8000)

    # ------------------------------------------------------------------ export
    def export(self) -> None:
        """Ask for the NIfTI file name; the PNG and the sidecar go beside it."""
        if self.fused is None:
            return
        start = str(Path(self.preferences.folder("volumes")) / "fused.nii.gz")
        path, _ = QFileDialog.getSaveFileName(self, "Export the fused volume", start,
                                              "NIfTI (*.nii.gz *.nii)")
        if not path:
            return
        files = export_paths(path, self.slices.index)
        others = [p.name for p in files[1:] if p.exists()]
        if others and QMessageBox.question(self, "Replace files?", f"Replace {', '.join(others)}?") \
                != QMessageBox.StandardButton.Yes:
            return
        self.preferences.set_folder("volumes", files[0].parent)
        self.export_to(files[0])

    def export_to(self, nifti: str | Path) -> bool:
        """Write ``nifti`` (float32 fused values), ``<stem>_slice<k>.png`` and ``<stem>.json`` in a worker."""
        view = self.views["Fused"]
        if self.fused is None or self.a is None or self.b is None:
            return False
        k = self.slices.index
        files = export_paths(nifti, k)
        meta = sidecar(self.fused, self.a, self.b, files, k, view.window, view.colormap_label)
        return self._run(export_job, files, self.fused.opened.volume, view.picture(), meta,
                         on_done=self._on_exported, context="Cannot export")

    def _on_exported(self, paths: list[Path]) -> None:
        self.statusBar().showMessage(f"Wrote {', '.join(p.name for p in paths)} in {paths[0].parent}", 10000)
        self.exported.emit(paths)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.jobs.shutdown()  # cancel; a step already running (one read, one slice) is waited for
        super().closeEvent(event)

