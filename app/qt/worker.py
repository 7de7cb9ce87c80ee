"""The one worker type: runs an engine generator in a QThread and reports through signals.

Like napari's ``thread_worker`` / pymeasure's monitor thread: the job is a generator function;
every value it yields is emitted as ``yielded`` (queued to the GUI thread), its return value as
``returned``, an exception as ``errored`` and an early end as ``aborted``. ``finished`` (from
QThread) always comes last.

Pause and abort act between two yields. A job that owns its own stop logic (the trainer) passes a
:class:`Controls` instead; the worker then forwards pause/resume/stop to it and lets the generator
run to its own end, so that the engine can finish the step and say ``stopped``.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

from PySide6.QtCore import QThread, Signal


class Controls:
    """Thread-safe pause/resume/stop for an object attached later (e.g. a Trainer built in the thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: Any = None
        self._paused = False
        self._stopped = False

    def attach(self, target: Any) -> None:
        with self._lock:
            self._target = target
            if self._stopped:
                target.request_stop()
            elif self._paused:
                target.request_pause()

    def _forward(self, name: str) -> None:
        if self._target is not None:
            getattr(self._target, name)()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            self._forward("request_pause")

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._forward("request_resume")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._forward("request_stop")

    @property
    def stop_requested(self) -> bool:
        return self._stopped


class Worker(QThread):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal()

    def __init__(self, fn: Callable[..., Iterator], *args: Any, controls: Controls | None = None, **kwargs: Any):
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self.controls = controls
        self._abort = threading.Event()
        self._resume = threading.Event()
        self._resume.set()

    def pause(self) -> None:
        if self.controls is not None:
            self.controls.pause()
        else:
            self._resume.clear()

    def resume(self) -> None:
        if self.controls is not None:
            self.controls.resume()
        else:
            self._resume.set()

    def abort(self) -> None:
        if self.controls is not None:
            self.controls.stop()
        else:
            self._abort.set()
            self._resume.set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set() or (self.controls is not None and self.controls.stop_requested)

    def run(self) -> None:  # runs in the worker thread
        try:
            gen = self._fn(*self._args, **self._kwargs)
            while True:
                self._resume.wait()
                if self._abort.is_set():
                    gen.close()
                    self.aborted.emit()
                    return
                try:
                    item = next(gen)
                except StopIteration as stop:
                    self.returned.emit(stop.value)
                    return
                self.yielded.emit(item)
        except BaseException as exc:  # noqa: BLE001 - every error goes to the GUI's handler
            self.errored.emit(exc)
