"""The status bar counts the time left down on running time only, says Paused, and says how a training ended:
finished, stopped, or failed and why, with the rate and the time left gone."""

import pytest
from PySide6.QtWidgets import QStatusBar

from app.core.view_models import TrainingStep
from app.qt.activity import Activity
from app.widgets.status_panel import StatusPanel


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def panel(qtbot):
    bar = QStatusBar()
    qtbot.addWidget(bar)
    activity, clock = Activity(), Clock()
    panel = StatusPanel(activity, bar, clock)
    panel.timer.stop()  # the test calls refresh() itself
    activity.reset_training()
    activity.set_training("running")
    activity.report_step(TrainingStep(3, 40, "meta", {"lf": 0.5}, steps_per_s=0.5, eta_s=100.0))
    panel.refresh()
    return panel, activity, clock


def test_the_time_left_counts_down_while_running_and_stands_still_while_paused(panel):
    panel, activity, clock = panel
    assert panel.eta.text() == "ETA 1:40" and panel.rate.text().startswith("2.0 s/step")
    clock.now += 10
    panel.refresh()
    assert panel.eta.text() == "ETA 1:30"
    activity.set_training("paused")
    assert panel.doing.text() == "Paused"
    clock.now += 60
    panel.refresh()
    assert panel.eta.text() == "ETA 1:30 (paused)" and panel.doing.text() == "Paused"
    activity.set_training("running")
    clock.now += 5
    panel.refresh()
    assert panel.eta.text() == "ETA 1:25"
    activity.report_step(TrainingStep(4, 40, "meta", {"lf": 0.5}, steps_per_s=0.5, eta_s=80.0))
    clock.now += 1
    panel.refresh()
    assert panel.eta.text() == "ETA 1:19" and panel.doing.text() == "Training (meta) step 4/40"
    clock.now += 500
    panel.refresh()
    assert panel.eta.text() == "ETA 0:00"  # never below zero


@pytest.mark.parametrize("outcome, why, text", [
    ("finished", "", "Training finished"),
    ("stopped", "", "Training stopped"),
    ("failed", "broken.png is not an image file.", "Training failed: broken.png is not an image file."),
])
def test_the_end_of_a_training_clears_the_pace_and_says_how_it_ended(panel, outcome, why, text):
    panel, activity, clock = panel
    activity.end_training(outcome, why)
    clock.now += 30
    panel.refresh()
    assert activity.training == "idle" and activity.training_outcome == (outcome, why)
    assert panel.rate.text() == "" and panel.eta.text() == "" and not panel.progress.isVisibleTo(panel.bar)
    assert panel.doing.text() == text


def test_stopping_drops_the_time_left(panel):
    panel, activity, clock = panel
    activity.set_training("stopping")
    panel.refresh()
    assert panel.eta.text() == "" and panel.doing.text().startswith("Stopping")


def test_a_long_reason_is_shortened_in_the_bar_and_whole_in_the_tooltip(panel):
    panel, activity, _ = panel
    why = "The graphics card ran out of memory. " * 5
    activity.end_training("failed", why)
    assert len(panel.doing.text()) <= 100 and panel.doing.text().endswith("…")
    assert panel.doing.toolTip() == f"Training failed: {why}"
