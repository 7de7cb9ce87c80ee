"""The loss plot draws each loss only where it has data: no line across the plain steps for the meta-test Lr,
none from the end of one training to the start of the next."""

import numpy as np
import pytest

from app.core.view_models import TrainingStep
from app.qt.activity import Activity
from app.widgets.loss_plot import LossPlot


def run(activity, stages, start=1):
    """Report one step per stage letter: m = meta step (lf, lr, outer_lr), f = plain step (lf, lr)."""
    for i, stage in enumerate(stages, start):
        losses = {"lf": 1.0 / i, "lr": 2.0 / i}
        if stage == "m":
            losses["outer_lr"] = 3.0 / i
        activity.report_step(TrainingStep(i, 100, "meta" if stage == "m" else "fuse", losses))


def segments(curve):
    """The runs of points a curve drawn with connect="finite" joins: split at non-finite values."""
    x, y = curve.getData()
    assert curve.opts["connect"] == "finite"
    parts, current = [], []
    for xi, yi in zip(x, y):
        if np.isfinite(yi):
            current.append(float(xi))
        elif current:
            parts.append(current)
            current = []
    return parts + ([current] if current else [])


@pytest.fixture
def activity():
    return Activity()


@pytest.fixture
def plot(qtbot, activity):
    widget = LossPlot(activity)
    qtbot.addWidget(widget)
    return widget


def test_the_meta_test_curve_has_gaps_over_the_plain_steps(activity, plot):
    run(activity, "mmfffmm")
    plot.redraw()
    for curves in (plot.raw_curves, plot.smooth_curves):
        assert segments(curves["outer_lr"]) == [[1, 2], [6, 7]]
        assert segments(curves["lf"]) == [[1, 2, 3, 4, 5, 6, 7]]
    assert plot.points("outer_lr") == 4 and plot.points("lf") == 7
    plot.smoothing.setValue(50)  # smoothing again keeps the breaks
    plot.redraw()
    assert segments(plot.smooth_curves["outer_lr"]) == [[1, 2], [6, 7]]
    y = plot.smooth_curves["outer_lr"].getData()[1]
    assert np.isclose(y[-1], 0.5 * (0.5 * (0.5 * 3.0 + 0.5 * 1.5) + 0.5 * 0.5) + 0.5 * 3.0 / 7)


def test_a_second_training_starts_an_empty_plot(activity, plot):
    run(activity, "mmfff")
    activity.reset_training()
    run(activity, "mf")
    plot.redraw()
    assert segments(plot.raw_curves["lf"]) == [[1, 2]] and segments(plot.raw_curves["outer_lr"]) == [[1]]
    run(activity, "mff")  # steps that start again at 1 without a reset: a new run all the same
    plot.redraw()
    assert segments(plot.raw_curves["lf"]) == [[1, 2, 3]] and plot.points("lf") == 3


def test_an_emptied_plot_forgets_the_last_runs_axes(activity, plot):
    run(activity, "mmfff" * 8)  # 40 steps
    plot.redraw()
    plot.plot.getPlotItem().getViewBox().updateAutoRange()
    assert plot.plot.getPlotItem().getViewBox().viewRange()[0][1] > 30
    plot.show_steps([])  # an item whose model no run here made
    (x0, x1), (y0, y1) = plot.plot.getPlotItem().getViewBox().viewRange()
    assert x1 < 2 and y1 < 2
    run(activity, "mff" * 10)  # the next run's curves set the range again
    plot.redraw()
    plot.plot.getPlotItem().getViewBox().updateAutoRange()
    assert plot.plot.getPlotItem().getViewBox().viewRange()[0][1] > 25
