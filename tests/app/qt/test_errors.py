"""Errors become dialogs in plain words; uncaught exceptions go to the same handler."""

import sys

import pytest
from refusion_core.errors import InputError, WeightsError

from app.qt.errors import CUDA_OOM, ErrorHandler, describe, install_excepthook


class FakeOOM(RuntimeError):
    pass


FakeOOM.__name__ = "OutOfMemoryError"


def test_describe_in_plain_words():
    assert describe(InputError("a.png is corrupt"))[:2] == ("Cannot use this image", "a.png is corrupt.")
    title, text, _ = describe(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert title == "Out of graphics memory" and text == CUDA_OOM and "Choose CPU" in text
    assert describe(FakeOOM("boom"))[0] == "Out of graphics memory"
    text = describe(WeightsError("No default weights; pass --weights with a model file or train one with 'refusion train'"))[1]
    assert "--weights" not in text and "Train in the toolbar" in text
    assert "device box" in describe(InputError("CUDA was asked for but no usable CUDA GPU was found; use --device cpu"))[1]
    title, text, details = describe(ValueError("odd"))
    assert title == "Something went wrong" and "ValueError: odd" in text


def test_handler_shows_a_dialog(qtbot, dialogs):
    handler = ErrorHandler()
    handler.report(InputError("x.tif is empty (0 bytes), not an image"))
    assert dialogs.shown == [("Cannot use this image", "x.tif is empty (0 bytes), not an image.")]


def test_report_from_a_thread_is_queued(qtbot, dialogs):
    import threading

    handler = ErrorHandler()
    t = threading.Thread(target=lambda: handler.report(MemoryError()))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(dialogs.shown))
    assert dialogs.titles() == ["Out of memory"]


def test_excepthook_routes_to_the_handler(qtbot, dialogs, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    import threading

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    handler = ErrorHandler()
    install_excepthook(handler)
    try:
        raise KeyError("missing")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    assert dialogs.titles() == ["Something went wrong"] and "KeyError" in dialogs.text()


def test_uncaught_errors_reach_the_log_file(qtbot, dialogs, monkeypatch, tmp_path):
    """A windowed executable has no terminal: the traceback must be in the application's log file."""
    from app.core import engine
    monkeypatch.setenv("REFUSION_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    import threading
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    assert engine.start_logging() == tmp_path / "refusion-studio.log"
    install_excepthook(ErrorHandler())
    try:
        raise ValueError("a bug in a slot")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    log = (tmp_path / "refusion-studio.log").read_text()
    assert "ValueError: a bug in a slot" in log and "Traceback" in log


def test_cuda_oom_during_fuse_is_a_dialog(window, images, monkeypatch, wait_idle, dialogs):
    from app.core import engine

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 8.00 GiB total capacity)")

    monkeypatch.setattr(engine, "fuse", oom)
    window.pair_list.add_paths([images["grey"], images["colour"]])
    assert window.fusing.fuse()
    wait_idle(window)
    assert dialogs.titles() == ["Out of graphics memory"] and "Fusing" in dialogs.text()
    assert window.act["fuse"].isEnabled()  # still usable afterwards


def test_broken_cuda_probe_falls_back_to_cpu(monkeypatch):
    import refusion_core.devices as devices

    from app.core import engine

    def broken():
        raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version")

    monkeypatch.setattr(devices, "cuda_usable", broken)
    assert engine.probe_device().startswith("CPU (CUDA present but unusable")


@pytest.mark.parametrize("raw, expected", [("3", 3), ("abc", None), ("0", None), ("-2", None), ("", None)])
def test_a_bad_train_threads_setting_falls_back_to_the_default(monkeypatch, raw, expected):
    import os

    from app.core import engine
    monkeypatch.setenv("REFUSION_TRAIN_THREADS", raw)
    assert engine.train_threads() == (expected or max(1, (os.cpu_count() or 2) - 1))
