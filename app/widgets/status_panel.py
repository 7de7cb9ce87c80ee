"""Status bar content: device, what is running, progress, steps per second and time left.

The time left counts down between two steps (a meta step on a CPU takes seconds) from the newest step's
``eta_s``, on running time only: while the training is paused it stands still and says so. The rate and
the time left go when the training ends, and the panel says how it ended: finished, stopped, or failed
and why.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from app.core.view_models import TrainingStep
from app.qt.activity import Activity

LONGEST = 100
"""Characters of the training's last word shown in the bar (an error's sentence can be longer)."""


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

    def __init__(self, activity: Activity, bar: QStatusBar, clock: Callable[[], float] = time.monotonic) -> None:
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
        self.clock = clock
        self._latest: TrainingStep | None = None  # the newest step, shown by a 4 Hz timer (repaints cost)
        self._eta_left: float | None = None  # seconds left at _eta_since (the newest step's eta_s)
        self._eta_since: float | None = None  # when the countdown last started; None while it stands still
        self.timer = QTimer(bar)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        activity.deviceInfoChanged.connect(self.device.setText)
        activity.busyChanged.connect(self._on_busy)
        activity.progressChanged.connect(self._on_progress)
        activity.trainingStepped.connect(self._on_step)
        activity.trainingChanged.connect(self._on_training)
        activity.trainingEnded.connect(self._on_ended)

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
        status = self.activity.training
        if step.eta_s is not None and status in ("running", "paused"):
            self._eta_left, self._eta_since = step.eta_s, self.clock() if status == "running" else None

    def refresh(self) -> None:
        """The 4 Hz update: the newest step, and the time left counted down on running time."""
        self._show_latest()
        if self._eta_left is not None:
            paused = self._eta_since is None
            left = self._eta_left if paused else self._eta_left - (self.clock() - self._eta_since)
            self.eta.setText(f"ETA {format_eta(max(left, 0.0))}" + (" (paused)" if paused else ""))

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
        self.doing.setText(f"Training ({step.stage}) step {step.step}/{step.total_steps}")

    def _on_training(self, status: str) -> None:
        self._show_latest()
        if status == "paused":
            self._stop_countdown()
            self.doing.setText("Paused")
        elif status == "running":
            if self._eta_left is not None and self._eta_since is None:
                self._eta_since = self.clock()  # resumed: count down from where it stood
            self.doing.setText("Training…")
        elif status == "stopping":
            self._eta_left = self._eta_since = None
            self.eta.setText("")
            self.doing.setText("Stopping after this step…")
        else:  # idle: what the training ended as comes with trainingEnded
            self._eta_left = self._eta_since = None
            self.rate.setText("")
            self.eta.setText("")
            self.doing.setText("")
        self.progress.setVisible(status != "idle")
        self.refresh()

    def _stop_countdown(self) -> None:
        if self._eta_left is not None and self._eta_since is not None:
            self._eta_left -= self.clock() - self._eta_since
            self._eta_since = None

    def _on_ended(self, outcome: str, why: str) -> None:
        text = {"finished": "Training finished", "stopped": "Training stopped",
                "failed": f"Training failed: {why}" if why else "Training failed"}[outcome]
        # a status bar label's text sets the window's least width: a long error sentence is cut, whole in the tooltip
        self.doing.setText(text if len(text) <= LONGEST else text[:LONGEST - 1].rstrip() + "…")
        self.doing.setToolTip(text)
