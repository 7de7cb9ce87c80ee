"""The process status: what is running, how far it is, the device, and the training's state and steps.

Only the job runner and the controllers change it (through the setters below); the status bar, the loss
plot and the main window's actions subscribe to it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.view_models import TrainingStep

TRAINING_STATES = ("idle", "running", "paused", "stopping")
TRAINING_OUTCOMES = ("finished", "stopped", "failed")
"""How a training ended: all its steps done, stopped by the user (the steps done are kept), or an error."""


class Activity(QObject):
    busyChanged = Signal(str)  # the newest running job's text, "" when none runs
    progressChanged = Signal(int, int, str)  # done, total, what
    deviceInfoChanged = Signal(str)
    trainingChanged = Signal(str)  # one of TRAINING_STATES
    trainingEnded = Signal(str, str)  # one of TRAINING_OUTCOMES, and why when "failed" (a plain sentence)
    trainingReset = Signal()  # a new training starts: its steps replace the last one's
    trainingStepped = Signal(object)  # TrainingStep

    def __init__(self) -> None:
        super().__init__()
        self._busy: list[str] = []
        self.device_info = "device: not checked yet"
        self.training = "idle"
        self.training_outcome: tuple[str, str] | None = None  # the last training's (outcome, why)

    @property
    def busy(self) -> str:
        return self._busy[-1] if self._busy else ""

    def begin(self, text: str) -> None:
        """A job that says ``text`` started (the runner calls this and :meth:`end`)."""
        self._busy.append(text)
        self.busyChanged.emit(self.busy)

    def end(self, text: str) -> None:
        if text in self._busy:
            self._busy.reverse()
            self._busy.remove(text)  # the newest job with that text
            self._busy.reverse()
            self.busyChanged.emit(self.busy)

    def set_progress(self, done: int, total: int, text: str = "") -> None:
        self.progressChanged.emit(done, total, text)

    def set_device_info(self, text: str) -> None:
        self.device_info = text
        self.deviceInfoChanged.emit(text)

    def set_training(self, status: str) -> None:
        if status not in TRAINING_STATES:
            raise ValueError(f"unknown training state {status!r}")
        if status != self.training:
            self.training = status
            self.trainingChanged.emit(status)

    def end_training(self, outcome: str, why: str = "") -> None:
        """The training ended (``outcome``: one of :data:`TRAINING_OUTCOMES`): the state goes idle, then
        ``trainingEnded`` says how it ended."""
        if outcome not in TRAINING_OUTCOMES:
            raise ValueError(f"unknown training outcome {outcome!r}")
        self.training_outcome = (outcome, why)
        self.set_training("idle")
        self.trainingEnded.emit(outcome, why)

    def reset_training(self) -> None:
        self.training_outcome = None
        self.trainingReset.emit()

    def report_step(self, step: TrainingStep) -> None:
        self.trainingStepped.emit(step)
