"""What the toolbar and menu actions do when they need to ask the user something (file dialogs,
the training and export dialogs, names, confirmations). The work itself is in the controllers."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox, QWidget

from app.controllers.exporting import ExportController
from app.controllers.fusing import FusingController
from app.controllers.training import TrainingController
from app.core.methods import MethodKey
from app.qt.preferences import Preferences
from app.qt.state import StudioState
from app.widgets.pair_list import PairListWidget
from app.windows.export_dialog import ExportDialog
from app.windows.train_dialog import TrainDialog

Yes, No, Cancel = (QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No,
                   QMessageBox.StandardButton.Cancel)


class ActionHandlers:
    def __init__(self, window: QWidget, state: StudioState, preferences: Preferences, pair_list: PairListWidget,
                 fusing: FusingController, training: TrainingController, exporter: ExportController) -> None:
        self.window, self.state, self.preferences = window, state, preferences
        self.choices, self.workspace, self.models = state.choices, state.workspace, state.models
        self.pair_list, self.fusing, self.training, self.exporter = pair_list, fusing, training, exporter
        self.volume_windows: list[QWidget] = []

    # ------------------------------------------------------------------ inputs
    def open_pair(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Open a pair (choose A and B), a stack (three or more "
                                                "files) or one file at a time",
                                                self.preferences.folder("open"), "Images (*.png *.jpg *.jpeg *.tif "
                                                "*.tiff *.bmp *.webp *.pgm *.ppm);;All files (*)")
        if files:
            self.preferences.set_folder("open", Path(files[0]).parent)
            self.pair_list.add_paths([Path(f) for f in files])

    def open_folders(self) -> None:
        first = QFileDialog.getExistingDirectory(self.window, "Folder of the A images", self.preferences.folder("open"))
        second = first and QFileDialog.getExistingDirectory(self.window, "Folder of the B images", first)
        if first and second:
            self.preferences.set_folder("open", first)
            self.pair_list.add_paths([Path(first), Path(second)])

    def align(self) -> None:
        """Register B to A (every frame of a stack to the first); on Accept the item becomes the aligned files."""
        from app.windows.align_dialog import AlignDialog

        pairs = self.workspace.pairs
        index, pair = pairs.current, pairs.current_pair()
        if pair is None:
            return
        dialog = AlignDialog(pair, self.window.errors, self.window)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.result_pair is not None:
            self.fusing.forget()
            pairs.replace(index, dialog.result_pair)
            self.window.statusBar().showMessage(f"Aligned: {len(dialog.out_files) - 1} files written to "
                                                f"{dialog.result_pair.a.parent}", 10000)

    def open_volumes(self, paths: list[Path] | None = None) -> None:
        """The volume browser (DICOM / NIfTI, slice by slice fusion); with ``paths``, A (and B) opened."""
        from app.windows.volume_window import VolumeWindow

        window = VolumeWindow(self.models.catalog, self.preferences, self.window.errors, parent=self.window,
                              device=self.choices.device)
        window.show()
        if paths:
            window.open_paths(paths[0], paths[1] if len(paths) > 1 else None)
        self.volume_windows = [w for w in self.volume_windows if w.isVisible()] + [window]

    def import_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import a released ReFusion checkpoint",
                                              self.preferences.folder("models"), "Checkpoints (*.pth *.safetensors)")
        if path:
            self.preferences.set_folder("models", Path(path).parent)
            entry = self.models.import_checkpoint(Path(path))
            self.choices.set_model(entry.key)

    # ------------------------------------------------------------------ training
    def train(self) -> None:
        """The training dialog for the current item's task and model, listing the items of that task (the only
        ones it trains on), with a time estimate from measured steps."""
        task, model, items, pairs = self.training.plan()
        entry = self.models.get(model, task)
        dialog = TrainDialog(self.preferences.value("train/preset", "quick"), entry.label if entry else "?", task,
                             [p.name for p in items], self.window, self.training.estimator(pairs),
                             pair_count=len(pairs))
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        request = dialog.request()
        self.preferences.set_value("train/preset", request.preset)
        self.training.start(request)

    def save_model(self, key: MethodKey | None = None, name: str | None = None) -> Path | None:
        key = key or self.training.last_key
        if key not in self.training.trainers:
            return None
        if name is None:
            default = f"{self.choices.task}-finetuned-{time.strftime('%Y%m%d-%H%M')}"
            name, ok = QInputDialog.getText(self.window, "Save the fine-tuned model", "Name:", text=default)
            if not ok or not name.strip():
                return None
        path = self.models.catalog.user_model_path(name)
        if path.exists() and QMessageBox.question(
                self.window, "Replace model?", f"A model called {path.stem} exists. Replace it?") != Yes:
            return None
        task = self.models.task_of(key) or self.choices.task
        with self.window.items.held():
            self.training.save(key, path)
        self.training.histories[MethodKey.user(path)] = self.training.histories.pop(key, [])
        saved = MethodKey.user(path)
        self.fusing.forget(saved)
        self.provenance_saved(key, saved, task)
        self.workspace.pairs.replace_model(key, saved)  # the items it was chosen for now name the file
        self.window.items.show_current()
        self.window.statusBar().showMessage(f"Saved the model as {path.stem} in {path.parent}", 8000)
        return path

    def provenance_saved(self, session: MethodKey, saved: MethodKey, task: str) -> None:
        """The results of the unsaved fine-tuned model ``session`` now say they were made by the file ``saved``:
        its path, sha256, key and label, so their sidecars and CSV rows let them be redone."""
        from app.core import engine
        from app.core.results import describe_bundle

        entry = self.models.get(saved, task)
        if entry is None:
            return
        source = describe_bundle(entry, engine.load_bundle(saved.path, task), device="")
        source.pop("device")  # the device that made each result stays as it was
        self.fusing.rename(session, saved, source, entry.label)

    # ------------------------------------------------------------------ export
    def export(self) -> None:
        sources = self.workspace.sources
        sixteen = sources is not None and any(s.dtype == np.uint16 for s in sources)
        dialog = ExportDialog(self.preferences.folder("export"), len(self.workspace.pairs), self.window,
                              sixteen_bit=sixteen)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.exporter.export(dialog.options())

    # ------------------------------------------------------------------ closing
    def confirm_close(self) -> bool:
        """Asks before closing during training; stops it cleanly and saves the weights if wanted."""
        if self.training.running:
            answer = QMessageBox.question(
                self.window, "Training is running",
                "A training is still running. Stop it and save the fine-tuned model before closing?",
                Yes | No | Cancel, Yes)
            if answer == Cancel:
                return False
            self.training.stop_and_wait()
            if answer == Yes and self.training.last_key:
                name = f"{self.choices.task}-autosave-{time.strftime('%Y%m%d-%H%M%S')}"
                self.save_model(self.training.last_key, name)
        for jobs in (self.fusing.jobs, self.exporter.jobs):
            jobs.shutdown(10000)
        return True
