"""The job runner wires a worker's life cycle once: progress, results, errors to the one handler, busy text."""

import threading

from app.qt.activity import Activity
from app.qt.errors import ErrorHandler
from app.qt.jobs import JobRunner


def counting(n, report=None):
    for i in range(n):
        if report is not None:
            report(i, n)
        yield (i, n, f"step {i}")
        yield {"item": i}
    return "done"


def failing():
    yield (0, 1, "about to fail")
    raise ValueError("broken job")


def test_a_job_reports_progress_items_result_and_busy_text_in_order(qtbot):
    activity, calls = Activity(), []
    runner = JobRunner(ErrorHandler(), activity)
    progress, busy = [], []
    runner.progressed.connect(lambda d, t, text: progress.append((d, t, text)))
    activity.busyChanged.connect(busy.append)
    with qtbot.waitSignal(runner.runningChanged, check_params_cb=lambda running: not running, timeout=10000):
        runner.start(counting, 2, context="Counting", busy="Counting…", on_yield=lambda x: calls.append(("yield", x)),
                     on_result=lambda r: calls.append(("result", r)), on_finish=lambda: calls.append(("finish",)))
        assert runner.running and activity.busy == "Counting…"
    assert progress == [(0, 2, "step 0"), (1, 2, "step 1")]
    assert calls == [("yield", {"item": 0}), ("yield", {"item": 1}), ("result", "done"), ("finish",)]
    assert not runner.running and runner.worker is None and busy == ["Counting…", ""]


def test_errors_go_to_the_one_handler_with_the_context(qtbot, dialogs):
    runner = JobRunner(ErrorHandler(), Activity())
    seen = []
    runner.start(failing, context="Testing", busy="Testing…", on_error=seen.append)
    qtbot.waitUntil(lambda: not runner.running, timeout=10000)
    assert [type(e) for e in seen] == [ValueError]
    assert dialogs.titles() == ["Something went wrong"] and "Testing: " in dialogs.text()
    assert runner.activity.busy == ""


def test_a_reporter_called_in_the_worker_thread_arrives_as_progress(qtbot):
    runner = JobRunner(ErrorHandler())
    threads, progress = [], []
    runner.progressed.connect(lambda *p: (progress.append(p), threads.append(threading.current_thread())))
    runner.start(counting, 1, runner.reporter("Counting"), context="Counting")
    qtbot.waitUntil(lambda: not runner.running, timeout=10000)
    assert (0, 1, "Counting") in progress and set(threads) == {threading.main_thread()}


def test_discarded_and_shut_down_jobs_deliver_nothing(qtbot, dialogs):
    runner = JobRunner(ErrorHandler(), Activity())
    seen = []
    runner.start(failing, context="Stale", busy="Reading…", on_error=seen.append, on_result=seen.append)
    runner.discard()  # e.g. the user moved on to another pair
    qtbot.waitUntil(lambda: not runner.running, timeout=10000)
    assert seen == [] and dialogs.shown == [] and runner.activity.busy == ""

    gate = threading.Event()

    def slow():
        yield (0, 2, "first")
        gate.wait(5)
        yield (1, 2, "second")
        return "late"

    finished = []
    runner.start(slow, context="Closing", on_result=seen.append, on_finish=lambda: finished.append(True))
    gate.set()
    runner.shutdown(5000)  # the window closes: abort, wait, forget
    qtbot.wait(100)
    assert not runner.running and seen == [] and finished == []
