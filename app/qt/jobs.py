"""The one job runner: every piece of long work in the app starts here (napari / superqt's ``create_worker``).

A job is a generator function run in a :class:`~app.qt.worker.Worker` thread. The runner wires each
worker's life cycle once:

* what the job yields as ``(done, total, text)`` is progress: :attr:`JobRunner.progressed`, and the
  activity's progress bar when the runner has one; anything else it yields goes to ``on_yield``;
* its return value goes to ``on_result``, an early end (abort) to ``on_abort``;
* an exception goes to ``on_error`` (for a view that also says it in place), then to the one
  :class:`~app.qt.errors.ErrorHandler` with the job's ``context``;
* ``on_finish`` comes last, after the thread is joined and forgotten, whatever happened.

While a job started with a ``busy`` text runs, the activity shows that text. Jobs the owner no longer wants
(:meth:`JobRunner.discard`, e.g. a read of a pair the user moved away from) and jobs of a runner that was
shut down (its window closed) deliver nothing more, ``on_finish`` included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from app.qt.activity import Activity
from app.qt.errors import ErrorHandler
from app.qt.worker import Controls, Worker

Callback = Callable[..., Any] | None


def is_progress(item: object) -> bool:
    """``(done, total, text)``: what jobs yield to say how far they are."""
    return (isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], int) and isinstance(item[1], int)
            and isinstance(item[2], str))


@dataclass(eq=False)
class _Job:
    worker: Worker
    context: str
    busy: str
    brief_errors: bool
    on_yield: Callback
    on_result: Callback
    on_abort: Callback
    on_error: Callback
    on_finish: Callback
    wanted: bool = True


class JobRunner(QObject):
    progressed = Signal(int, int, str)  # of the runner's jobs, from yields and from reporters
    runningChanged = Signal(bool)

    def __init__(self, errors: ErrorHandler, activity: Activity | None = None) -> None:
        super().__init__()
        self.errors, self.activity = errors, activity
        self._jobs: list[_Job] = []
        self._closed = False
        if activity is not None:
            self.progressed.connect(activity.set_progress)

    # ------------------------------------------------------------------ starting
    def start(self, job: Callable, *args: Any, context: str, busy: str = "", on_yield: Callback = None,
              on_result: Callback = None, on_abort: Callback = None, on_error: Callback = None,
              on_finish: Callback = None, controls: Controls | None = None, brief_errors: bool = False,
              **kwargs: Any) -> Worker:
        """Run ``job(*args, **kwargs)`` in a new worker thread. ``context`` heads its error messages
        ("Fusing: ..."); ``brief_errors``: the engine's own errors in one sentence, without a traceback;
        ``controls``: pause/resume/stop are forwarded to an object the job attaches (the trainer)."""
        worker = Worker(job, *args, controls=controls, **kwargs)
        record = _Job(worker, context, busy, brief_errors, on_yield, on_result, on_abort, on_error, on_finish)
        worker.yielded.connect(lambda item: self._on_yielded(record, item))
        worker.returned.connect(lambda value: self._deliver(record, record.on_result, value))
        worker.aborted.connect(lambda: self._deliver(record, record.on_abort))
        worker.errored.connect(lambda exc: self._on_errored(record, exc))
        worker.finished.connect(lambda: self._on_finished(record))
        was_running = self.running
        self._jobs.append(record)
        if busy and self.activity is not None:
            self.activity.begin(busy)
        if not was_running:
            self.runningChanged.emit(True)
        worker.start()
        return worker

    def reporter(self, text: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback for the engine, callable from the worker thread."""
        return lambda done, total: self.progressed.emit(int(done), int(total), text)

    # ------------------------------------------------------------------ the running jobs
    @property
    def running(self) -> bool:
        """True from :meth:`start` until the last job's ``on_finish`` has run."""
        return bool(self._jobs)

    @property
    def workers(self) -> list[Worker]:
        return [j.worker for j in self._jobs]

    @property
    def worker(self) -> Worker | None:
        """The newest running worker (None when idle)."""
        return self._jobs[-1].worker if self._jobs else None

    def discard(self) -> None:
        """The running jobs' results, progress and errors are no longer wanted (they still run to the end)."""
        for job in self._jobs:
            job.wanted = False

    def abort(self) -> None:
        """Ask every running job to stop (between two yields, or as its controls say)."""
        for job in self._jobs:
            job.worker.abort()

    def wait(self, ms: int | None = None) -> bool:
        """Block until every running job's thread has ended (True), or ``ms`` passed."""
        return all(job.worker.wait(ms) if ms is not None else job.worker.wait() for job in list(self._jobs))

    def shutdown(self, ms: int | None = None) -> None:
        """The owner goes away: abort, wait, and deliver nothing more (``on_finish`` included)."""
        self._closed = True
        self.abort()
        self.wait(ms)
        if self._jobs:
            for job in list(self._jobs):
                self._forget(job)
            self.runningChanged.emit(False)

    # ------------------------------------------------------------------ the worker's signals
    def _wanted(self, job: _Job) -> bool:
        return job.wanted and not self._closed

    def _on_yielded(self, job: _Job, item: object) -> None:
        if not self._wanted(job):
            return
        if is_progress(item):
            self.progressed.emit(*item)
        elif job.on_yield is not None:
            job.on_yield(item)

    def _deliver(self, job: _Job, callback: Callback, *args: Any) -> None:
        if callback is not None and self._wanted(job):
            callback(*args)

    def _on_errored(self, job: _Job, exc: BaseException) -> None:
        if self._wanted(job):
            self._deliver(job, job.on_error, exc)  # the view says it in place first, then the dialog comes
            self.errors.report(exc, job.context, brief=job.brief_errors)

    def _on_finished(self, job: _Job) -> None:
        if job not in self._jobs:  # forgotten by shutdown()
            return
        job.worker.wait()
        self._forget(job)
        self._deliver(job, job.on_finish)
        if not self._jobs:
            self.runningChanged.emit(False)

    def _forget(self, job: _Job) -> None:
        self._jobs.remove(job)
        if job.busy and self.activity is not None:
            self.activity.end(job.busy)
