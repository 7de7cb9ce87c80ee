"""Fusing the current pair: loads its sources, runs the chosen model and the second result in a
worker, computes metrics, and keeps results per pair so switching pairs is instant."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core import engine
from app.core.catalog import ModelCatalog
from app.qt.errors import ErrorHandler
from app.core.results import make_result, make_stack_result, with_metrics
from app.core.methods import MethodKey
from app.core.results import Result
from app.qt.state import StudioState
from app.qt.worker import Worker


def fuse_job(task: str, device: str, model_key: MethodKey | None, compare_key: MethodKey | None,
             catalog: ModelCatalog, a, b, progress, stack=None, stretch: str = "auto"):  # noqa: ANN001
    """Worker job: yields progress tuples, returns ``(fused, second)`` (None for a part not asked).

    ``stack``: the paths of all frames when the item is a stack (read here, in the worker, so a long
    stack never stalls the window); it is fused as a tree of pairs, without maps or metrics."""
    fused = second = None
    if stack is not None:
        yield (0, 3, f"Reading {len(stack)} frames…")
        frames = engine.read_sources(stack, stretch)
        if model_key is not None:
            yield (1, 3, f"Fusing a stack of {len(frames)} with the model…")
            fused = make_stack_result(model_key, catalog, task, device, frames, progress)
        if compare_key is not None:
            yield (2, 3, "Computing the comparison…")
            second = make_stack_result(compare_key, catalog, task, device, frames)
        yield (3, 3, "Done")
        return fused, second
    if model_key is not None:
        yield (0, 3, "Fusing with the model…")
        fused = with_metrics(make_result(model_key, catalog, task, device, a, b, progress), a, b, task)
    if compare_key is not None:
        yield (1, 3, "Computing the comparison…")
        second = with_metrics(make_result(compare_key, catalog, task, device, a, b), a, b, task)
    yield (3, 3, "Done")
    return fused, second


READING = "Reading the images…"


def read_job(a, b, stretch: str):  # noqa: ANN001, ANN201
    """Worker job: the two sources of a pair, read and scaled off the GUI thread."""
    yield (0, 1, f"Reading {a.name} and {b.name}…")
    return engine.read_pair(a, b, stretch)


class FusingController(QObject):
    """Fuses the current pair in a worker and keeps the results per pair and model.

    Sources are read when the current pair changes: at once when both files together are under
    :attr:`READ_IN_WORKER_BYTES` (a few milliseconds; the result is there before the next repaint), else in
    a worker, so a 24-megapixel 16-bit TIFF never freezes the window; until it has arrived the panels are
    empty and Fuse is disabled. A read that finishes after the user moved on is dropped."""

    finished = Signal()
    READ_IN_WORKER_BYTES = 4 << 20

    def __init__(self, state: StudioState, catalog: ModelCatalog, errors: ErrorHandler) -> None:
        super().__init__()
        self.state, self.catalog, self.errors = state, catalog, errors
        self.worker: Worker | None = None
        self.readers: list[Worker] = []
        self._cache: dict[tuple[str, str, str, MethodKey | None], Result] = {}
        state.pairs.currentChanged.connect(self._on_current_changed)
        state.compareChanged.connect(self._on_compare_changed)
        state.stretchChanged.connect(lambda _mode: self._on_current_changed(state.pairs.current))

    # ------------------------------------------------------------------ sources
    def _on_current_changed(self, index: int) -> None:
        pair = self.state.pairs.current_pair()
        if pair is None:
            self.state.set_sources(None)
            return
        if self._bytes(pair) > self.READ_IN_WORKER_BYTES:
            self.state.set_sources(None)
            reader = Worker(read_job, pair.a, pair.b, self.state.stretch)
            key = self._key(None)
            if not self.state.busy:
                self.state.set_busy(READING)
            reader.returned.connect(lambda sources: self._on_read(sources, key))
            reader.errored.connect(lambda exc: self._on_read_error(exc, pair, key))
            reader.finished.connect(lambda: self._on_reader_finished(reader))
            self.readers.append(reader)
            reader.start()
            return
        try:
            sources = engine.read_pair(pair.a, pair.b, self.state.stretch)
        except Exception as exc:  # noqa: BLE001 - unreadable / corrupt / mismatched: say so, keep going
            self.state.set_sources(None)
            self.errors.report(exc, f"Pair {pair.name}")
            return
        self._show(sources)

    @staticmethod
    def _bytes(pair) -> int:  # noqa: ANN001
        try:
            return sum(p.stat().st_size for p in (pair.a, pair.b))
        except OSError:
            return 0  # read at once: the reader names the missing file

    def _on_read(self, sources, key) -> None:  # noqa: ANN001
        if key == self._key(None):  # still the pair (and scaling) the user is looking at
            self._show(sources)

    def _on_read_error(self, exc: Exception, pair, key) -> None:  # noqa: ANN001
        if key == self._key(None):
            self.errors.report(exc, f"Pair {pair.name}")

    def _on_reader_finished(self, reader: Worker) -> None:
        reader.wait()
        if reader in self.readers:
            self.readers.remove(reader)
        if not self.readers and self.state.busy == READING:
            self.state.set_busy("")

    def _show(self, sources) -> None:  # noqa: ANN001
        self.state.set_sources(sources)
        fused = self._cache.get(self._key(self.state.model_key))
        second = self._cache.get(self._key(self.state.compare_key))
        if fused or second:
            self.state.set_results(fused, second)

    def _key(self, what: MethodKey | None) -> tuple[str, str, str, MethodKey | None]:
        pair = self.state.pairs.current_pair()
        return (f"{pair.key}|{self.state.stretch}" if pair else "", self.state.task, self.state.device, what)

    def forget(self, method: MethodKey | None = None) -> None:
        """Drop cached results (all, or those of one method, e.g. a model file that was replaced)."""
        self._cache = {k: v for k, v in self._cache.items() if method is not None and k[3] != method}

    # ------------------------------------------------------------------ fusing
    @property
    def busy(self) -> bool:
        return self.worker is not None

    def fuse(self) -> bool:
        return self._start(self.state.model_key, self.state.compare_key)

    def _on_compare_changed(self, key: MethodKey) -> None:
        if self.state.sources is not None and self.state.fused is not None and not self.busy:
            self._start(None, key)

    def _start(self, model_key: MethodKey | None, compare_key: MethodKey | None) -> bool:
        if self.busy or self.state.sources is None:
            return False
        if model_key is not None and (cached := self._cache.get(self._key(model_key))):
            model_key = None
            self.state.set_results(cached, self.state.second)
        if compare_key is not None and (cached := self._cache.get(self._key(compare_key))):
            compare_key = None
            self.state.set_results(self.state.fused, cached)
        if model_key is None and compare_key is None:
            return True
        a, b = self.state.sources
        pair = self.state.pairs.current_pair()
        stack = pair.paths if pair is not None and pair.is_stack else None
        progress = lambda done, total: self.state.progressChanged.emit(done, total, "Fusing")  # noqa: E731
        self.worker = Worker(fuse_job, self.state.task, self.state.device, model_key, compare_key,
                             self.catalog, a, b, progress, stack, self.state.stretch)
        keys = (self._key(model_key) if model_key else None, self._key(compare_key) if compare_key else None)
        self.worker.yielded.connect(lambda p: self.state.set_progress(*p))
        self.worker.returned.connect(lambda r: self._on_done(r, keys))
        self.worker.errored.connect(lambda exc: self.errors.report(exc, "Fusing"))
        self.worker.finished.connect(self._on_finished)
        self.state.set_busy("Fusing…")
        self.worker.start()
        return True

    def _on_done(self, results: tuple[Result | None, Result | None], keys: tuple) -> None:
        fused, second = results
        for key, res in zip(keys, results):
            if key and res is not None:
                self._cache[key] = res
        pair_key = next(k[0] for k in keys if k)
        if pair_key == self._key(None)[0]:
            self.state.set_results(fused or self.state.fused, second or self.state.second)

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.wait()
        self.worker = None
        self.state.set_busy("")
        self.finished.emit()
