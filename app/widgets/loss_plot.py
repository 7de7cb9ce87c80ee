"""Training losses per step: Lf, Lr and the outer (meta-test) Lr, raw and smoothed.

As in pyqtgraph's streaming examples, each curve is created once; events only append to growing
buffers, and a timer redraws at most five times a second with peak downsampling.

A curve is drawn only where it has data: the meta-test Lr exists on meta steps only, so between two
meta phases (the plain steps) its buffer holds a NaN break and the curves are drawn with
``connect="finite"``: a gap, not a line across the plain steps. A new training (the activity's
``trainingReset``, or a step number that does not follow the last one) starts an empty plot, never a
line from the end of one run to the start of the next.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from app.core.view_models import TrainingStep
from app.qt.activity import Activity

SERIES = {"lf": ("Lf (fusion)", "#42a5f5"), "lr": ("Lr (reconstruction)", "#ef5350"),
          "outer_lr": ("outer Lr (meta-test)", "#66bb6a")}


class Series:
    """A growing (step, value) buffer with an exponential moving average kept alongside.

    A step that does not follow the previous one (a gap in the steps that have this loss) is preceded by
    a break: a NaN at the previous step's x (x stays sorted, as clip-to-view needs), which a curve drawn
    with ``connect="finite"`` leaves unjoined. The average runs on across a break (the meta-test Lr of
    one meta phase continues the last one's); ``n`` counts the buffer's rows, breaks included."""

    def __init__(self) -> None:
        self.x = np.empty(1024)
        self.y = np.empty(1024)
        self.s = np.empty(1024)
        self.n = 0
        self.points = 0  # the values, without the breaks
        self._avg = float("nan")

    def append(self, step: float, value: float, alpha: float) -> None:
        if self.n and step != self.x[self.n - 1] + 1:
            self._push(self.x[self.n - 1], float("nan"), float("nan"))
        self._avg = value if self.points == 0 else alpha * self._avg + (1 - alpha) * value
        self._push(step, value, self._avg)
        self.points += 1

    def _push(self, x: float, y: float, s: float) -> None:
        if self.n == len(self.x):
            self.x, self.y, self.s = (np.resize(a, 2 * len(a)) for a in (self.x, self.y, self.s))
        self.x[self.n], self.y[self.n], self.s[self.n] = x, y, s
        self.n += 1

    def resmooth(self, alpha: float) -> None:
        acc = float("nan")
        for i in range(self.n):
            y = self.y[i]
            if y != y:  # a break stays a break
                self.s[i] = y
                continue
            acc = y if acc != acc else alpha * acc + (1 - alpha) * y
            self.s[i] = acc
        self._avg = acc

    @property
    def last_step(self) -> float | None:
        return self.x[self.n - 1] if self.n else None


EMPTY_RANGE = (0.0, 1.0)


class LossPlot(QWidget):
    def __init__(self, activity: Activity, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.activity = activity
        self.alpha = 0.9
        self.series = {k: Series() for k in SERIES}
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(-10, 10))
        self.raw_curves, self.smooth_curves = {}, {}
        for key, (name, colour) in SERIES.items():
            c = pg.mkColor(colour)
            faint = pg.mkColor(c.red(), c.green(), c.blue(), 70)
            self.raw_curves[key] = self.plot.plot(pen=pg.mkPen(faint, width=1), antialias=False, connect="finite")
            self.smooth_curves[key] = self.plot.plot(pen=pg.mkPen(c, width=2), name=name, antialias=False,
                                                     connect="finite")
        for curve in (*self.raw_curves.values(), *self.smooth_curves.values()):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(int(self.alpha * 100))
        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.log_y = QCheckBox("log scale")
        self.log_y.toggled.connect(lambda on: self.plot.setLogMode(y=on))
        self._build_layout()
        self._dirty = False
        self.timer = QTimer(self)
        self.timer.setInterval(200)  # 5 redraws a second at most, however fast the steps
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        activity.trainingStepped.connect(self._on_step)
        activity.trainingReset.connect(self.clear)

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing, 1)
        bar.addWidget(self.log_y)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.plot, 1)
        layout.addLayout(bar)

    def _on_step(self, step: TrainingStep) -> None:
        last = max((s.last_step for s in self.series.values() if s.n), default=None)
        if last is not None and step.step <= last:  # a new run whose reset did not come first
            self.clear()
        for key, series in self.series.items():
            if key in step.losses:
                series.append(float(step.step), step.losses[key], self.alpha)
                self._dirty = True

    def _on_smoothing(self, value: int) -> None:
        self.alpha = value / 100.0
        for series in self.series.values():
            series.resmooth(self.alpha)
        self._dirty = True

    def clear(self) -> None:
        self.series = {k: Series() for k in SERIES}
        self._dirty = True
        self.redraw()

    def show_steps(self, steps: list[TrainingStep]) -> None:
        """The curves of a finished run (the run that made the selected item's model), or none."""
        self.series = {k: Series() for k in SERIES}
        for step in steps:
            self._on_step(step)
        self._dirty = True
        self.redraw()

    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for key, s in self.series.items():
            self.raw_curves[key].setData(s.x[: s.n], s.y[: s.n])
            self.smooth_curves[key].setData(s.x[: s.n], s.s[: s.n])
        if not any(s.n for s in self.series.values()):  # empty: the axes of an empty plot, not the last run's
            self.plot.setRange(xRange=EMPTY_RANGE, yRange=EMPTY_RANGE, padding=0)
            self.plot.enableAutoRange()  # the next run's curves set the range again

    def points(self, key: str) -> int:
        """How many losses of ``key`` the plot holds (the breaks between its segments not counted)."""
        return self.series[key].points
