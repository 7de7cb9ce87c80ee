"""Status bar content: device, what is running, progress, steps per second and time left."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from app.core.view_models import TrainingStep
from app.qt.activity import Activity


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
    """Fills a QStatusBar with the activity: device, what is running, progress, and the training's pace."""

    def __init__(self, activity: Activity, bar: QStatusBar) -> None:
        self.activity, self.bar = activity, bar
        self.device = QLabel(activity.device_info)
        self.doing = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        self.rate = QLabel("")
        self.eta = QLabel("")
        for w in (self.doing, self.progress, self.rate, self.eta):
            bar.addPermanentWidget(w)
        bar.addWidget(self.device)
        self._latest: TrainingStep | None = None  # the newest step, shown by a 4 Hz timer (repaints cost)
        self.timer = QTimer(bar)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self._show_latest)
        self.timer.start()
        activity.deviceInfoChanged.connect(self.device.setText)
        activity.busyChanged.connect(self._on_busy)
        activity.progressChanged.connect(self._on_progress)
        activity.trainingStepped.connect(self._on_step)
        activity.trainingChanged.connect(self._on_training)

    def _on_busy(self, text: str) -> None:
        self.doing.setText(text)
        self.progress.setVisible(bool(text) or self.activity.training != "idle")
        if not text and self.activity.training == "idle":
            self.progress.reset()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setVisible(True)
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(done, total))

    def _on_step(self, step: TrainingStep) -> None:
        self._latest = step

    def _show_latest(self) -> None:
        step, self._latest = self._latest, None
        if step is None:
            return
        if step.total_steps:
            self.progress.setVisible(True)
            self.progress.setMaximum(step.total_steps)
            self.progress.setValue(min(step.step, step.total_steps))
        if step.steps_per_s:
            self.rate.setText(format_rate(step.steps_per_s))
        if step.eta_s is not None:
            self.eta.setText(f"ETA {format_eta(step.eta_s)}")
        self.doing.setText(f"Training ({step.stage}) step {step.step}/{step.total_steps}")

    def _on_training(self, status: str) -> None:
        self._show_latest()
        labels = {"running": "Training…", "paused": "Training paused", "stopping": "Stopping after this step…"}
        self.doing.setText(labels.get(status, "Training finished" if self.rate.text() else ""))
        self.progress.setVisible(status != "idle")
        if status == "idle":
            self.eta.setText("")
