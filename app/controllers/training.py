"""Fine-tuning from the toolbar: builds the engine's Trainer in a worker, turns its events into what the
views draw (:class:`~app.core.view_models.TrainingStep`, :class:`~app.core.view_models.WeightMaps`), and keeps
the result as a model of the session that can be saved under a name.

How a training ends goes to the activity (``Activity.end_training``: finished, stopped, or failed and why)
and, for a failure, to :attr:`TrainingController.failed`; ``trained`` comes only for a run that returned a
model (all its steps done, or stopped by the user), never for one that failed.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal

from app.core import engine
from app.core.catalog import ModelCatalog, ModelEntry
from app.core.engine import WeightsError
from app.core.methods import MethodKey
from app.core.results import resolve_bundle
from app.core.view_models import TrainingStep, WeightMaps
from app.qt.errors import ErrorHandler, describe
from app.qt.jobs import JobRunner
from app.qt.state import StudioState
from app.qt.worker import Controls


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


LOSSES = ("lf", "lr", "outer_lr")
"""The losses a step event carries: fusion, reconstruction, the meta-test reconstruction (meta steps)."""


def step_view(ev) -> TrainingStep:  # noqa: ANN001 - the engine's TrainEvent of kind "step"
    """The step as the views draw it. ``steps_per_s`` and ``eta_s`` are the engine's, taken as they are: the
    trainer times each update alone (``Trainer._one_step``: a moving average of the update's own duration per
    stage), so a pause between two steps never counts in them and needs no correction here."""
    losses = {name: float(v) for name in LOSSES if (v := getattr(ev, name)) is not None and math.isfinite(v)}
    return TrainingStep(int(ev.step), int(ev.total_steps), ev.stage or "", losses, ev.steps_per_s, ev.eta_s)


def preview_view(ev) -> WeightMaps:  # noqa: ANN001 - the engine's TrainEvent of kind "preview"
    return WeightMaps(f"Training preview, step {ev.step}", dict(ev.maps), live=True)


class TrainingController(QObject):
    trained = Signal(object)  # the MethodKey of the fine-tuned model (kept in memory until saved)
    failed = Signal(str)  # why the training failed, in a plain sentence (the error dialog has the details)

    def __init__(self, state: StudioState, errors: ErrorHandler) -> None:
        super().__init__()
        self.state, self.errors = state, errors
        self.choices, self.activity, self.models = state.choices, state.activity, state.models
        self.jobs = JobRunner(errors, state.activity)
        self.trainers: dict[MethodKey, object] = {}
        self.last_key: MethodKey | None = None
        self.base: tuple[str, MethodKey | None] = ("", None)  # the task and model the last training began from
        self.histories: dict[MethodKey, list[TrainingStep]] = {}  # model -> the steps of the run that made it
        self._history: list[TrainingStep] = []
        self.last_settings: dict = {}
        self._ended: str | None = None  # how the running training ended: "finished" or "stopped" (its last event)
        self._failure: str | None = None  # why it failed
        self._model: MethodKey | None = None  # the model it returned

    @property
    def running(self) -> bool:
        return self.jobs.running

    def plan(self) -> tuple[str, MethodKey, list, list[tuple[Path, Path]]]:
        """What Train would do now: ``(task, model, items, pairs)``: the current item's task and model, the items
        of that task (only those: an ivif model is never fine-tuned on an mfif pair) and their training pairs (a
        stack trains as its neighbouring frames: each is a real pair of the task, one focus or exposure step)."""
        items = self.state.workspace.pairs
        setup = items.current_setup()
        task, model = (setup.task, setup.model) if setup else (self.choices.task, self.choices.model)
        of_task = items.of_task(task)
        return task, model, of_task, [q for p in of_task for q in p.consecutive_pairs()]

    def start(self, request: TrainRequest) -> bool:
        task, model, _items, pairs = self.plan()
        if self.running:
            return False
        if len(pairs) < 2:
            self.errors.warn("Nothing to train on", f"Training needs at least two {task} pairs of images "
                             "(meta-learning keeps some of them aside to test on). Drop more pairs of this task on "
                             "the pair list first.")
            return False
        entry = self.models.get(model, task)
        if entry is None:
            self.errors.warn("No model chosen", "Choose a model to fine-tune in the model box.")
            return False
        self.base = (task, model)  # the fine-tuned model goes to the items of this task that had this model
        run_dir = engine.user_data_dir() / "runs" / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.last_settings = {"preset": request.preset, **request.overrides, "from_scratch": request.from_scratch}
        controls = Controls()
        self.jobs.start(train_job, controls, request, entry, self.models.catalog, pairs, run_dir, task,
                        self.choices.device, controls=controls, context="Training", on_yield=self._on_event,
                        on_result=self._on_returned, on_error=self._on_failed, on_finish=self._on_finished)
        self._history = []
        self.activity.reset_training()
        self.activity.set_training("running")
        return True

    def pause(self) -> None:
        if self.jobs.worker:
            self.jobs.worker.pause()

    def resume(self) -> None:
        if self.jobs.worker:
            self.jobs.worker.resume()

    def stop(self) -> None:
        if self.jobs.worker:
            self.jobs.worker.abort()
            self.activity.set_training("stopping")

    def stop_and_wait(self, timeout_ms: int = 60000) -> None:
        """Stop and wait (keeping the GUI alive) until the trainer has finished its step."""
        if not self.running:
            return
        loop = QEventLoop()
        self.jobs.runningChanged.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.stop()
        if self.running:
            loop.exec()
        self.jobs.runningChanged.disconnect(loop.quit)

    # ------------------------------------------------------------------ events
    def _on_event(self, ev) -> None:  # noqa: ANN001 - TrainEvent
        if ev.kind == "step":
            view = step_view(ev)
            self._history.append(view)
            self.activity.report_step(view)
        elif ev.kind == "preview" and ev.maps:
            self.state.workspace.set_maps(preview_view(ev))
        elif ev.kind == "paused":
            self.activity.set_training("paused")
        elif ev.kind == "resumed":
            self.activity.set_training("running")
        elif ev.kind in ("done", "stopped"):
            self._ended = "finished" if ev.kind == "done" else "stopped"

    def _on_failed(self, exc: BaseException) -> None:
        self._failure = describe(exc)[1]

    def _on_returned(self, trainer) -> None:  # noqa: ANN001
        task = self.base[0] or self.choices.task  # the items' task (the boxes follow the selection meanwhile)
        label = f"Fine-tuned {task} {time.strftime('%H:%M')} (unsaved)"
        key = self.models.add_session(label, trainer.bundle(), task)
        self.trainers[key] = trainer
        self.histories[key] = self._history  # the curves of the run that made it (the loss panel shows them)
        self.last_key = self._model = key

    def _on_finished(self) -> None:
        """The worker has ended: the activity says how, then ``failed`` or ``trained`` (after the state is idle,
        so that a listener sees the training over and can read ``activity.training_outcome``)."""
        failure, ended, key = self._failure, self._ended or "stopped", self._model
        self._failure = self._ended = self._model = None
        self.activity.end_training("failed" if failure is not None else ended, failure or "")
        if failure is not None:
            self.failed.emit(failure)
        elif key is not None:
            self.trained.emit(key)

    # ------------------------------------------------------------------ the dialog's time estimate
    def estimator(self, pairs: list) -> Callable[..., Iterator]:
        """The training dialog's ``estimate``: ``estimate(settings)`` measures a plain and a meta step of those
        settings on ``pairs`` with the chosen task and device (``engine.step_timings``; run in the dialog's
        worker, stopped between steps when the dialog closes)."""
        task, device = self.choices.task, self.choices.device
        return lambda settings: engine.step_timings(settings, pairs, task, device)

    # ------------------------------------------------------------------ saving
    def save(self, key: MethodKey, path: Path) -> Path:
        """Write the fine-tuned model ``key`` to ``path`` (in the user models folder)."""
        trainer = self.trainers[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_model(path)
        self.trainers.pop(key, None)
        self.models.forget_session(key)
        return path
