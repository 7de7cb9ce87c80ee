"""The dialog that starts a fine-tuning: what it trains on, a preset and a few of its numbers, scratch or
not, and how long it will take.

The time is estimated from measured steps: ``estimate(settings)`` (the controller's ``estimator``, over
``engine.step_timings``) times one plain and one meta step of the chosen crop and batch in a worker while
the dialog is shown; the estimate is then the schedule's step counts times those seconds, redone at once
when the step counts change and measured again when the crop or the batch does. Meta-learning keeps some
pairs aside to test on, so the dialog refuses fewer than two training pairs.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.controllers.training import TrainRequest
from app.core import engine
from app.qt.errors import ErrorHandler, describe
from app.qt.jobs import JobRunner

FIELDS = (("epochs", "Epochs (L)", 1, 1000), ("meta_steps", "Meta steps per epoch (M)", 0, 100000),
          ("fuse_steps", "Fusion steps per epoch (N)", 0, 100000), ("crop", "Crop size (px)", 16, 1024),
          ("batch", "Batch size", 1, 64))
DEVICE_NAMES = {"cpu": "CPU", "cuda": "the graphics card"}

Estimate = Callable[..., object]
"""``estimate(settings)``: ``(plain_s, meta_s, device)`` seconds per step (device "cpu" or "cuda", may be
left out), or a generator returning that (stopped between its yields when the dialog closes)."""


def format_duration(seconds: float) -> str:
    """``40 s``, ``12 min``, ``2 h 10 min``: rounded as an estimate is."""
    if seconds < 60:
        return f"{max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def _step_seconds(s: float) -> str:
    return f"{s:.0f}" if s >= 10 else f"{s:.1f}" if s >= 0.95 else f"{s:.2g}"


def estimate_text(settings, plain_s: float, meta_s: float, device: str = "") -> str:  # noqa: ANN001 - TrainSettings
    """``about 12 min (measured 0.9 s per plain step, 2.1 s per meta step on CPU)`` for the schedule of
    ``settings``: epochs × (M meta steps + N plain steps), after the ablation switch."""
    meta, plain = settings.phase_steps
    total = settings.epochs * (meta * meta_s + plain * plain_s)
    where = f" on {DEVICE_NAMES.get(device, device)}" if device else ""
    return (f"about {format_duration(total)} (measured {_step_seconds(plain_s)} s per plain step, "
            f"{_step_seconds(meta_s)} s per meta step{where})")


def _measure_job(estimate: Estimate, settings):  # noqa: ANN001, ANN202 - a generator for the worker
    result = estimate(settings)
    if inspect.isgenerator(result):
        result = yield from result
    return result


# What the intensity weights w do in a fine-tune: (label, TrainSettings fields). The default per task is how its
# shipped model was trained (TrainSettings.fixed_w, the paper's figures; TrainSettings.tie_w, our choice)
W_MODES = {
    "learnt": ("Learnt by P (Algorithm 1 as written)", dict(fixed_w=False, tie_w=0.0)),
    "half": ("Held at ½ (learn only the gradient weights v)", dict(fixed_w=True, tie_w=0.0)),
    "v": ("Following v (w = v: intensity from the source whose detail is kept)", dict(fixed_w=False, tie_w=1.0)),
}
TASK_W_MODES = {"mfif": "v", "meif": "half"}  # other tasks: "learnt"


class TrainDialog(QDialog):
    """``item_names``: the pairs and stacks of the model's task it trains on; ``pair_count``: the training
    pairs they make (a stack of N frames is N - 1; default one per item); ``estimate``: see :data:`Estimate`
    (None: no time estimate)."""

    def __init__(self, preset: str, model_label: str, task: str, item_names: list[str],
                 parent: QWidget | None = None, estimate: Estimate | None = None, *,
                 pair_count: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune the model")
        self.setMinimumWidth(400)
        self.estimate, self.pair_count = estimate, len(item_names) if pair_count is None else pair_count
        self.items = QListWidget()
        self.items.addItems(list(item_names))
        self.items.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.items.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a list to read, not to choose from
        self.items.setMaximumHeight(110)
        self.preset = QComboBox()
        self.preset.addItems(list(engine.preset_names()))
        self.spins: dict[str, QSpinBox] = {}
        self.scratch = QCheckBox("Start from a new, untrained model")
        self.w_mode = QComboBox()  # how the shipped model of the task was trained, by default (TASK_W_MODES)
        for key, (label, _) in W_MODES.items():
            self.w_mode.addItem(label, key)
        self.w_mode.setToolTip("The intensity weights w of the fusion loss. The paper's multi-focus and exposure maps "
                               "have w near ½ everywhere; with w following v every region's brightness, like its "
                               "detail, comes from the source P prefers there (sharper multi-focus results).")
        self.w_mode.setCurrentIndex(self.w_mode.findData(TASK_W_MODES.get(task, "learnt")))
        self.steps, self.time, self.refusal = QLabel(), QLabel(), QLabel()
        for label in (self.time, self.refusal):
            label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Train")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._build_layout(model_label, task, len(item_names))
        self._measured: dict[tuple, tuple] = {}  # (crop, batch, meta batch) -> (plain_s, meta_s[, device])
        self._failed: dict[tuple, str] = {}  # the same key -> why it could not be measured
        self.jobs: JobRunner | None = None  # measures while the dialog is shown
        self._refuse_if_too_few()
        self.preset.currentTextChanged.connect(self._load_preset)
        for spin in self.spins.values():
            spin.valueChanged.connect(self._update_total)
        if self.preset.findText(preset) >= 0:
            self.preset.setCurrentText(preset)
        self._load_preset(self.preset.currentText())

    def _build_layout(self, model_label: str, task: str, n_items: int) -> None:
        form = QFormLayout()
        form.addRow("Preset", self.preset)
        for name, label, lo, hi in FIELDS:
            spin = QSpinBox()
            spin.setRange(lo, hi)
            self.spins[name] = spin
            form.addRow(label, spin)
        form.addRow("Intensity weights w", self.w_mode)
        pairs = f"{self.pair_count} training pair{'s' if self.pair_count != 1 else ''}"
        items = f"{n_items} item{'s' if n_items != 1 else ''}"
        heading = QLabel(f"Fine-tunes <b>{model_label}</b> for the {engine.TASK_NAMES.get(task, task)} task on "
                         f"its {items} ({pairs}):")
        heading.setWordWrap(True)
        self.refusal.setStyleSheet("color: #c62828")
        layout = QVBoxLayout(self)
        for w in (heading, self.items, self.refusal):
            layout.addWidget(w)
        layout.addLayout(form)
        for w in (self.scratch, self.steps, self.time, self.buttons):
            layout.addWidget(w)

    def _refuse_if_too_few(self) -> None:
        too_few = self.pair_count < 2
        self.ok.setEnabled(not too_few)
        self.refusal.setVisible(too_few)
        self.refusal.setText(f"Training needs at least two training pairs (meta-learning keeps some of them aside "
                             f"to test on); these make {self.pair_count}. Add pairs or stacks of this task first."
                             if too_few else "")

    # ------------------------------------------------------------------ the settings
    def settings(self):  # noqa: ANN201 - TrainSettings
        """The preset's settings with the numbers in the boxes."""
        return dataclasses.replace(engine.train_settings(self.preset.currentText()),
                                   **{k: s.value() for k, s in self.spins.items()}, **self._w_fields())

    def _w_fields(self) -> dict:
        return W_MODES[self.w_mode.currentData()][1]

    def _load_preset(self, name: str) -> None:
        settings = engine.train_settings(name)
        for key, spin in self.spins.items():
            spin.blockSignals(True)
            spin.setValue(int(getattr(settings, key)))
            spin.blockSignals(False)
        self._update_total()

    def _update_total(self) -> None:
        settings = self.settings()
        self.steps.setText(f"{settings.total_steps} steps in all.")
        self._show_estimate(settings)

    def request(self) -> TrainRequest:
        base = engine.train_settings(self.preset.currentText())
        overrides = {k: s.value() for k, s in self.spins.items() if s.value() != getattr(base, k)}
        overrides.update({k: v for k, v in self._w_fields().items() if v != getattr(base, k)})
        return TrainRequest(self.preset.currentText(), overrides, self.scratch.isChecked())

    # ------------------------------------------------------------------ the time estimate
    @staticmethod
    def _timing_key(settings) -> tuple:  # noqa: ANN001
        return settings.crop, settings.batch, settings.meta_batch, settings.max_side

    def _show_estimate(self, settings) -> None:  # noqa: ANN001
        if self.estimate is None or self.pair_count < 2:
            self.time.setText("")
            return
        key = self._timing_key(settings)
        if key in self._measured:
            self.time.setText(f"Time: {estimate_text(settings, *self._measured[key])}.")
        elif key in self._failed:
            self.time.setText(f"No time estimate: {self._failed[key]}")
        else:
            self.time.setText("Time: measuring…")
            self._measure(settings)

    def _measure(self, settings) -> None:  # noqa: ANN001
        if self.jobs is None or self.jobs.running:
            return  # not shown yet, or one at a time: the next starts when this one ends
        key = self._timing_key(settings)
        self.jobs.start(_measure_job, self.estimate, settings, context="Measuring a training step", brief_errors=True,
                        on_result=lambda result: self._measured.__setitem__(key, tuple(result)),
                        on_error=lambda exc: self._on_measure_failed(key, exc), on_finish=self._update_total)

    def _on_measure_failed(self, key: tuple, exc: BaseException) -> None:
        self._failed[key] = describe(exc)[1]

    def showEvent(self, event) -> None:  # noqa: ANN001
        super().showEvent(event)
        if self.jobs is None:
            self.jobs = JobRunner(ErrorHandler(self))
            self._update_total()

    def done(self, result: int) -> None:
        """Closed: a measurement still running stops after its current step (the worker closes it)."""
        if self.jobs is not None:
            self.jobs.shutdown()
            self.jobs = None
        super().done(result)
