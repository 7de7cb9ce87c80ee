"""Fine-tuning from the toolbar: builds the engine's Trainer in a worker, forwards its events to the
state, and keeps the result as a model of the session that can be saved under a name."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal

from app.core import engine
from app.core.engine import WeightsError
from app.core.methods import MethodKey
from app.core.catalog import ModelCatalog, ModelEntry
from app.qt.errors import ErrorHandler
from app.core.results import resolve_bundle
from app.qt.state import StudioState
from app.qt.worker import Controls, Worker


@dataclass
class TrainRequest:
    preset: str = "quick"
    overrides: dict = field(default_factory=dict)
    from_scratch: bool = False


def _init_for(entry: ModelEntry, catalog: ModelCatalog, task: str, from_scratch: bool):  # noqa: ANN202
    """What the Trainer starts from: a file path, a copy of an in-memory model, or None (fresh).

    Never the cached bundle itself: the trainer trains the modules it is given in place, and the
    original must stay as it was for the comparison."""
    if from_scratch or entry.kind == "scratch":
        return None
    if entry.kind == "session":
        return copy.deepcopy(resolve_bundle(entry, catalog, task))
    if entry.kind == "default":
        path = engine.default_weights(task)
        if not path.exists():
            raise WeightsError(f"The default weights for the {task} task are not installed, so there is nothing to "
                               "fine-tune. Tick 'Start from a new, untrained model' in the training dialog, import "
                               "a released checkpoint, or choose one of your models.")
        return path
    return entry.path


def train_job(controls: Controls, request: TrainRequest, entry: ModelEntry, catalog: ModelCatalog,
              pairs: list, run_dir: Path, task: str, device: str):  # noqa: ANN201
    """Worker job: yields the engine's TrainEvents, returns the Trainer (holding the tuned weights)."""
    settings = engine.train_settings(request.preset, **request.overrides)
    init = _init_for(entry, catalog, task, request.from_scratch)
    with engine.leave_a_core_for_the_window():
        trainer = engine.make_trainer(settings, pairs, run_dir, task, init, device)
        controls.attach(trainer)
        yield from trainer.run()
    return trainer


class TrainingController(QObject):
    trained = Signal(object)  # the MethodKey of the fine-tuned model (kept in memory until saved)

    def __init__(self, state: StudioState, catalog: ModelCatalog, errors: ErrorHandler) -> None:
        super().__init__()
        self.state, self.catalog, self.errors = state, catalog, errors
        self.worker: Worker | None = None
        self.trainers: dict[MethodKey, object] = {}
        self.last_key: MethodKey | None = None
        self.last_settings: dict = {}

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, request: TrainRequest) -> bool:
        # a stack trains as its neighbouring frames: each is a real pair of the task (focus/exposure steps)
        pairs = [q for p in self.state.pairs.pairs for q in p.consecutive_pairs()]
        if self.running:
            return False
        if len(pairs) < 2:
            self.errors.warn("Nothing to train on", "Training needs at least two pairs of images (meta-learning "
                             "keeps some of them aside to test on). Drop more pairs on the pair list first.")
            return False
        entry = self.catalog.get(self.state.model_key, self.state.task)
        if entry is None:
            self.errors.warn("No model chosen", "Choose a model to fine-tune in the model box.")
            return False
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = engine.user_data_dir() / "runs" / f"{self.state.task}-{stamp}"
        self._entry, self._request = entry, request
        self.last_settings = {"preset": request.preset, **request.overrides, "from_scratch": request.from_scratch}
        controls = Controls()
        self.worker = Worker(train_job, controls, request, entry, self.catalog, pairs, run_dir,
                             self.state.task, self.state.device, controls=controls)
        self.worker.yielded.connect(self._on_event)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(lambda exc: self.errors.report(exc, "Training"))
        self.worker.finished.connect(self._on_finished)
        self.state.trainingReset.emit()
        self.state.set_training("running")
        self.worker.start()
        return True

    def pause(self) -> None:
        if self.worker:
            self.worker.pause()

    def resume(self) -> None:
        if self.worker:
            self.worker.resume()

    def stop(self) -> None:
        if self.worker:
            self.worker.abort()
            self.state.set_training("stopping")

    def stop_and_wait(self, timeout_ms: int = 60000) -> None:
        """Stop and wait (keeping the GUI alive) until the trainer has finished its step."""
        if not self.worker:
            return
        loop = QEventLoop()
        self.worker.finished.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.stop()
        if self.worker is not None and self.worker.isRunning():
            loop.exec()

    # ------------------------------------------------------------------ events
    def _on_event(self, ev) -> None:  # noqa: ANN001 - TrainEvent
        self.state.trainEvent.emit(ev)
        if ev.kind == "preview" and ev.maps:
            self.state.set_maps(ev.maps, f"Training preview, step {ev.step}")
        elif ev.kind == "paused":
            self.state.set_training("paused")
        elif ev.kind == "resumed":
            self.state.set_training("running")
        if ev.total_steps:
            self.state.set_progress(int(ev.step), int(ev.total_steps), "Training")

    def _on_returned(self, trainer) -> None:  # noqa: ANN001
        label = f"Fine-tuned {self.state.task} {time.strftime('%H:%M')} (unsaved)"
        key = self.catalog.add_session(label, trainer.bundle())
        self.trainers[key] = trainer
        self.last_key = key
        self.state.modelsChanged.emit()
        self.trained.emit(key)

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.wait()
        self.worker = None
        self.state.set_training("idle")

    # ------------------------------------------------------------------ saving
    def save(self, key: MethodKey, path: Path) -> Path:
        """Write the fine-tuned model ``key`` to ``path`` (in the user models folder)."""
        trainer = self.trainers[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_model(path)
        self.catalog.forget_session(key)
        self.trainers.pop(key, None)
        self.state.modelsChanged.emit()
        return path
