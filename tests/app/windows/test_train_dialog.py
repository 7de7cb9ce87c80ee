"""The training dialog lists what it trains on, refuses fewer than two training pairs, and estimates the time
from measured steps (measured in a worker; here a stand-in measurement, so nothing depends on speed)."""

import threading
import time

from app.core import engine
from app.windows.train_dialog import TrainDialog, estimate_text, format_duration

ITEMS = ["ir.png + vis.png", "s0.png + s0.jpg", "stack of 3: f0.png …"]


class Measure:
    """A stand-in for the controller's estimator: records its calls, answers when released."""

    def __init__(self, answer=(0.9, 2.1, "cpu")) -> None:
        self.answer, self.calls, self.threads = answer, [], []
        self.release = threading.Event()

    def __call__(self, settings):  # noqa: ANN001
        self.calls.append(settings)
        self.threads.append(threading.get_ident())
        self.release.wait(20)
        return self.answer


def make(qtbot, names=ITEMS, pair_count=4, estimate=None, preset="quick"):
    dialog = TrainDialog(preset, "tiny", "ivif", names, None, estimate, pair_count=pair_count)
    qtbot.addWidget(dialog)
    return dialog


def test_the_estimate_is_the_schedule_times_the_measured_steps():
    quick = engine.train_settings("quick")  # 3 epochs of 10 meta + 30 plain steps
    assert estimate_text(quick, 0.9, 2.1, "cpu") == \
        "about 2 min (measured 0.9 s per plain step, 2.1 s per meta step on CPU)"  # 3 × (21 + 27) = 144 s
    paper = engine.train_settings("paper")  # 50 × (600 × 2.1 + 1600 × 0.9) s = 37.5 h
    assert estimate_text(paper, 0.9, 2.1).startswith("about 37 h 30 min (measured")
    assert estimate_text(engine.train_settings("quick", meta_steps=0), 0.05, 2.1, "cuda").startswith(
        "about 4 s (measured 0.05 s per plain step, 2.1 s per meta step on the graphics card")
    assert [format_duration(s) for s in (0.2, 40, 89, 3600, 7830)] == ["1 s", "40 s", "1 min", "1 h", "2 h 10 min"]


def test_the_dialog_measures_in_a_worker_and_follows_the_preset(qtbot):
    measure = Measure()
    dialog = make(qtbot, estimate=measure)
    assert dialog.items.count() == 3 and dialog.ok.isEnabled() and dialog.refusal.isHidden()
    assert measure.calls == []  # nothing runs before the dialog is shown
    dialog.show()
    qtbot.waitUntil(lambda: len(measure.calls) == 1)
    assert dialog.time.text() == "Time: measuring…"  # the window is alive while the step is measured
    assert measure.threads[0] != threading.get_ident() and measure.calls[0].crop == 64
    measure.release.set()
    qtbot.waitUntil(lambda: "about" in dialog.time.text())
    assert dialog.time.text() == f"Time: {estimate_text(dialog.settings(), 0.9, 2.1, 'cpu')}."
    dialog.spins["epochs"].setValue(30)  # same crop and batch: computed again at once, not measured again
    assert dialog.time.text().startswith("Time: about 24 min") and len(measure.calls) == 1
    dialog.preset.setCurrentText("cpu-hour")  # 96 px crops: measured again
    qtbot.waitUntil(lambda: len(measure.calls) == 2 and "about" in dialog.time.text())
    assert measure.calls[1].crop == 96
    assert dialog.time.text() == f"Time: {estimate_text(engine.train_settings('cpu-hour'), 0.9, 2.1, 'cpu')}."
    dialog.preset.setCurrentText("quick")  # measured before: at once
    assert "about 2 min" in dialog.time.text() and len(measure.calls) == 2
    dialog.accept()


def test_fewer_than_two_training_pairs_are_refused(qtbot):
    measure = Measure()
    one = make(qtbot, ["ir.png + vis.png"], 1, measure)
    one.show()
    assert not one.ok.isEnabled() and one.refusal.isVisible()
    assert "at least two training pairs" in one.refusal.text() and "these make 1" in one.refusal.text()
    qtbot.wait(100)
    assert measure.calls == [] and one.time.text() == ""
    stack = make(qtbot, ["stack of 3: f0.png …"], 2)  # a stack of 3 frames trains as 2 pairs
    assert stack.ok.isEnabled() and stack.refusal.isHidden()


def test_closing_stops_a_measurement_between_its_steps(qtbot):
    state = {"steps": 0, "closed": False}

    def endless(settings):  # noqa: ANN001 - a measurement that would never end by itself
        try:
            while True:
                time.sleep(0.01)
                state["steps"] += 1
                yield
        finally:
            state["closed"] = True

    dialog = make(qtbot, estimate=endless)
    dialog.show()
    qtbot.waitUntil(lambda: state["steps"] > 2)
    t0 = time.perf_counter()
    dialog.reject()
    assert state["closed"] and time.perf_counter() - t0 < 2 and dialog.jobs is None


def test_a_measurement_that_fails_says_why(qtbot, dialogs):
    def damaged(settings):  # noqa: ANN001
        raise engine.InputError("s0.png cannot be read (is it an image file?)")

    dialog = make(qtbot, estimate=damaged)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.time.text().startswith("No time estimate"))
    assert dialog.time.text() == "No time estimate: s0.png cannot be read (is it an image file?)."
    assert dialog.ok.isEnabled()  # the training itself says so again, with the details
    qtbot.waitUntil(lambda: bool(dialogs.shown))
    assert dialogs.titles() == ["Measuring a training step"]


def test_the_dialog_reads_presets(qtbot):
    dialog = make(qtbot)
    assert dialog.spins["crop"].value() == 64 and dialog.time.text() == ""  # no estimate without a measure
    dialog.spins["crop"].setValue(32)
    req = dialog.request()
    assert req.preset == "quick" and req.overrides == {"crop": 32} and not req.from_scratch


def test_a_real_measurement_of_tiny_steps(qtbot, images):
    pairs = [(images["dir_a"] / f"s{i}.png", images["dir_b"] / f"s{i}.jpg") for i in range(2)]
    dialog = make(qtbot, estimate=lambda settings: engine.step_timings(settings, pairs, "ivif", "cpu"))
    dialog.spins["crop"].setValue(16)
    dialog.spins["batch"].setValue(1)
    dialog.show()
    qtbot.waitUntil(lambda: "about" in dialog.time.text(), timeout=60000)
    assert dialog.time.text().endswith("per meta step on CPU).")
    dialog.accept()


def test_the_w_mode_defaults_to_how_the_task_was_trained_and_reaches_the_settings(qtbot):
    """The intensity weights' mode starts as the task's shipped model was trained (w learnt for infrared-visible, held
    at ½ for multi-focus and exposure: TASK_W_MODES); the request carries a changed choice to the trainer's settings
    (fixed_w, tie_w), and only a changed one."""
    from app.windows.train_dialog import TASK_W_MODES

    ivif = make(qtbot)
    assert ivif.w_mode.currentData() == "learnt" and not {"fixed_w", "tie_w"} & set(ivif.request().overrides)
    assert not ivif.settings().fixed_w and not ivif.settings().tie_w
    mfif = TrainDialog("quick", "tiny", "mfif", ITEMS, None, None, pair_count=4)
    qtbot.addWidget(mfif)
    assert mfif.w_mode.currentData() == TASK_W_MODES["mfif"]
    mfif.w_mode.setCurrentIndex(mfif.w_mode.findData("half"))
    req = mfif.request()
    assert req.overrides == {"fixed_w": True} and mfif.settings().fixed_w
    assert engine.train_settings(req.preset, **req.overrides).fixed_w
    mfif.w_mode.setCurrentIndex(mfif.w_mode.findData("v"))
    req = mfif.request()
    assert req.overrides == {"tie_w": 1.0} and not mfif.settings().fixed_w
    settings = engine.train_settings(req.preset, **req.overrides)
    assert settings.tie_w == 1.0 and not settings.fixed_w
    mfif.w_mode.setCurrentIndex(mfif.w_mode.findData("learnt"))
    assert not {"fixed_w", "tie_w"} & set(mfif.request().overrides)
