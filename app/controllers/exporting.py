"""Export of one pair or the whole list, in a worker with progress and cancel; never overwrites
files without asking."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from app.core import engine
from app.core.catalog import ModelCatalog
from app.core.methods import MethodKey
from app.core.pairing import Pair
from app.core.results import Result, make_result, make_stack_result, with_metrics
from app.core.writing import ExportOptions, ExportSummary, metrics_files, metrics_rows, planned_files, write_pair
from app.qt.errors import ErrorHandler, describe
from app.qt.jobs import JobRunner
from app.qt.preferences import Preferences
from app.qt.state import StudioState
from app.qt.worker import Worker


def export_job(pairs: list[Pair], setups: dict, opt: ExportOptions, ready: dict, catalog: ModelCatalog,
               device: str, compare_key: MethodKey, context: dict):  # noqa: ANN201
    """Yields ``(done, total, text)``; returns an :class:`ExportSummary`. Each item is fused with its own task
    and model (``setups``: Pair.key -> ItemSetup); its metrics go to its task's CSV (:func:`metrics_files`).
    Unreadable pairs are skipped and listed, so one bad file does not spoil a batch."""
    summary, rows = ExportSummary(folder=opt.folder), []
    for i, pair in enumerate(pairs):
        yield (i, len(pairs), f"Exporting {pair.name} ({i + 1}/{len(pairs)})")
        task, model_key = setups[pair.key].task, setups[pair.key].model
        try:
            fused, second = ready.get(pair.key, (None, None))
            if fused is None and pair.is_stack:
                frames = engine.read_sources(pair.paths, context.get("stretch", "auto"))
                fused = make_stack_result(model_key, catalog, task, device, frames)
                if opt.second:
                    second = make_stack_result(compare_key, catalog, task, device, frames)
            elif fused is None:
                a, b = engine.read_pair(pair.a, pair.b, context.get("stretch", "auto"))
                fused = with_metrics(make_result(model_key, catalog, task, device, a, b), a, b, task)
                if opt.second or opt.metrics:
                    second = with_metrics(make_result(compare_key, catalog, task, device, a, b), a, b, task)
            summary.written += write_pair(pair, fused, second, opt, {**context, "task": task})
            rows += metrics_rows(pair, task, [fused, second])
        except Exception as exc:  # noqa: BLE001 - recorded and shown at the end
            summary.failed.append((pair.name, describe(exc)[1]))
    if opt.metrics and rows:
        for path, text in metrics_files(opt.folder, rows).items():
            engine.atomic_write_bytes(path, text.encode("utf-8"))
            summary.written.append(path)
    yield (len(pairs), len(pairs), "Export done")
    return summary


class ExportController(QObject):
    done = Signal(object)  # ExportSummary

    def __init__(self, state: StudioState, preferences: Preferences, errors: ErrorHandler,
                 parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self.state, self.preferences, self.errors = state, preferences, errors
        self.choices, self.workspace = state.choices, state.workspace
        self.parent_widget = parent_widget
        self.jobs = JobRunner(errors, state.activity)
        self.jobs.progressed.connect(self._on_progress)
        self.progress: QProgressDialog | None = None
        self.summary: ExportSummary | None = None
        self.cached = lambda pair, task, method: None  # the fusing controller's results (FusingController.cached)

    @property
    def worker(self) -> Worker | None:
        return self.jobs.worker

    def export(self, opt: ExportOptions) -> bool:
        if self.jobs.running:
            return False
        pairs = self._pairs(opt)
        if not pairs:
            self.errors.warn("Nothing to export", "Add a pair of images and fuse it first.")
            return False
        setups = {p.key: self.workspace.pairs.setup(p) for p in pairs}
        existing = [p for p in planned_files(pairs, opt, [s.task for s in setups.values()]) if p.exists()]
        if existing and not self.confirm_overwrite(existing):
            return False
        self.preferences.set_folder("export", opt.folder)
        ch = self.choices
        context = {"settings": self.preferences.snapshot(), "stretch": ch.stretch}
        self._show_progress(len(pairs))
        self.jobs.start(export_job, pairs, setups, opt, self._ready(pairs, setups), self.state.models.catalog,
                        ch.device, ch.compare, context, context="Export", busy="Exporting…",
                        on_result=self._on_returned, on_abort=self._on_aborted, on_finish=self._on_finished)
        return True

    def _pairs(self, opt: ExportOptions) -> list[Pair]:
        if opt.scope == "all":
            return list(self.workspace.pairs.pairs)
        current = self.workspace.pairs.current_pair()
        return [current] if current else []

    def _ready(self, pairs: list[Pair], setups: dict) -> dict[str, tuple[Result, Result | None]]:
        """The results already made with each item's own model (on screen or cached), so that an export writes
        what the user saw and does not fuse again."""
        ready = {}
        for pair in pairs:
            fused = self.cached(pair, setups[pair.key].task, setups[pair.key].model)
            if fused is not None:
                ready[pair.key] = (fused, self.cached(pair, setups[pair.key].task, self.choices.compare))
        current = self.workspace.pairs.current_pair()
        if current in pairs and self.workspace.fused is not None and current.key not in ready:
            ready[current.key] = (self.workspace.fused, self.workspace.second)
        return ready

    def confirm_overwrite(self, existing: list) -> bool:
        names = "\n".join(p.name for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        answer = QMessageBox.question(
            self.parent_widget, "Replace files?",
            f"{len(existing)} file(s) already exist in {existing[0].parent}:\n{names}\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        self.jobs.abort()

    def _show_progress(self, total: int) -> None:
        self.progress = QProgressDialog("Exporting…", "Cancel", 0, total, self.parent_widget)
        self.progress.setWindowTitle("Export")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(300)
        self.progress.canceled.connect(self.cancel)

    def _on_progress(self, done: int, total: int, text: str) -> None:
        dialog = self.progress  # setValue() of a modal progress dialog processes events
        if dialog is not None:
            dialog.setLabelText(text)
            dialog.setMaximum(total)
            dialog.setValue(done)

    def _on_returned(self, summary: ExportSummary) -> None:
        self.summary = summary
        self.report(summary)
        self.done.emit(summary)

    def _on_aborted(self) -> None:
        self.summary = ExportSummary(cancelled=True, folder=self.preferences.folder("export"))
        self.done.emit(self.summary)

    def report(self, summary: ExportSummary) -> None:
        """Say what was written where, with a button that opens the folder in the file manager."""
        box = QMessageBox(QMessageBox.Icon.Warning if summary.failed else QMessageBox.Icon.Information,
                          "Some pairs were not exported" if summary.failed else "Export finished", summary.text(),
                          QMessageBox.StandardButton.Ok, self.parent_widget)
        opener = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
        box.exec()
        if box.clickedButton() is opener and summary.folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(summary.folder)))

    def _on_finished(self) -> None:
        if self.progress is not None:
            self.progress.canceled.disconnect(self.cancel)
            self.progress.close()
            self.progress = None
