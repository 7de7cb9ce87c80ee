"""Status bar content: device, what is running, progress, steps per second and time left."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from app.qt.state import StudioState


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_rate(steps_per_s: float) -> str:
    """``12.3 steps/s``, or ``25 s/step`` for slow steps (meta steps on a CPU)."""
    if steps_per_s >= 1:
        return f"{steps_per_s:.1f} steps/s"
    return f"{1 / steps_per_s:.1f} s/step ({steps_per_s:.2f} steps/s)"


class StatusPanel:
    """Fills a QStatusBar; subscribes to the state."""

    def __init__(self, state: StudioState, bar: QStatusBar) -> None:
        self.state, self.bar = state, bar
        self.device = QLabel(state.device_info)
        self.activity = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        self.rate = QLabel("")
        self.eta = QLabel("")
        for w in (self.activity, self.progress, self.rate, self.eta):
            bar.addPermanentWidget(w)
        bar.addWidget(self.device)
        self._latest = None  # the newest training event, shown by a 4 Hz timer (repaints cost)
        self.timer = QTimer(bar)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self._show_latest)
        self.timer.start()
        state.deviceInfoChanged.connect(self.device.setText)
        state.busyChanged.connect(self._on_busy)
        state.progressChanged.connect(self._on_progress)
        state.trainEvent.connect(self._on_train_event)
        state.trainingChanged.connect(self._on_training)

    def _on_busy(self, text: str) -> None:
        self.activity.setText(text)
        self.progress.setVisible(bool(text) or self.state.training != "idle")
        if not text and self.state.training == "idle":
            self.progress.reset()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if text == "Training":
            return  # shown with the training event, at the timer's pace
        self.progress.setVisible(True)
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(done, total))

    def _on_train_event(self, ev) -> None:  # noqa: ANN001 - TrainEvent
        if ev.kind == "step":
            self._latest = ev

    def _show_latest(self) -> None:
        ev, self._latest = self._latest, None
        if ev is None:
            return
        if ev.total_steps:
            self.progress.setVisible(True)
            self.progress.setMaximum(ev.total_steps)
            self.progress.setValue(min(ev.step, ev.total_steps))
        if ev.steps_per_s:
            self.rate.setText(format_rate(ev.steps_per_s))
        if ev.eta_s is not None:
            self.eta.setText(f"ETA {format_eta(ev.eta_s)}")
        self.activity.setText(f"Training ({ev.stage}) step {ev.step}/{ev.total_steps}")

    def _on_training(self, status: str) -> None:
        self._show_latest()
        labels = {"running": "Training…", "paused": "Training paused", "stopping": "Stopping after this step…"}
        self.activity.setText(labels.get(status, "Training finished" if self.rate.text() else ""))
        self.progress.setVisible(status != "idle")
        if status == "idle":
            self.eta.setText("")
