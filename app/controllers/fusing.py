"""Fusing the current pair: loads its sources, runs the chosen model and the second result in a
worker, computes metrics, and keeps results per pair so switching pairs is instant."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from app.core import engine
from app.core.cache import ResultCache
from app.core.catalog import ModelCatalog
from app.core.methods import MethodKey
from app.core.results import Result, make_result, make_stack_result, with_metrics
from app.core.view_models import WeightMaps
from app.qt.errors import ErrorHandler
from app.qt.jobs import JobRunner
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
    return engine.read_pair_raw(a, b, stretch)


def stamps(paths) -> str:  # noqa: ANN001
    """The files' modification times (ns), to tell a file replaced on disk from the one read before."""
    out = []
    for p in paths:
        try:
            out.append(str(p.stat().st_mtime_ns))
        except OSError:
            out.append("-")
    return ",".join(out)


def maps_of(result: Result) -> WeightMaps:
    """What the maps panel shows for a fused result (nothing, and why, for a stack or a model without P)."""
    return WeightMaps(result.label, dict(result.maps), is_stack=result.is_stack)


class FusingController(QObject):
    """Fuses the current pair in a worker and keeps the results per pair and model.

    Sources are read when the current pair changes: at once when both files together are under
    :attr:`READ_IN_WORKER_BYTES` and their headers declare at most :attr:`READ_IN_WORKER_PIXELS` each (a few
    milliseconds; the result is there before the next repaint), else in
    a worker, so a 24-megapixel 16-bit TIFF never freezes the window; until it has arrived the panels are
    empty and Fuse is disabled. A read that finishes after the user moved on is dropped."""

    finished = Signal()
    sizeMismatch = Signal(str)  # the current pair's images differ in size (the window offers to align them)
    READ_IN_WORKER_BYTES = 4 << 20
    READ_IN_WORKER_PIXELS = 4_000_000  # a header declaring more than 4 MP per image: read in a worker too

    def __init__(self, state: StudioState, errors: ErrorHandler) -> None:
        super().__init__()
        self.state, self.errors = state, errors
        self.choices, self.workspace = state.choices, state.workspace
        self.jobs = JobRunner(errors, state.activity)  # fusing
        self.reads = JobRunner(errors, state.activity)  # reading large sources
        self._cache = ResultCache()  # (pair|scaling|stamps, task, device, method|stamp) -> Result, bounded by memory
        self.workspace.pairs.currentChanged.connect(self._on_current_changed)
        self.workspace.pairs.setupChanged.connect(self._on_setup_changed)
        self.choices.compareChanged.connect(self._on_compare_changed)
        self.choices.stretchChanged.connect(lambda _mode: self._on_current_changed(self.workspace.pairs.current))

    # ------------------------------------------------------------------ sources
    @property
    def readers(self) -> list[Worker]:
        return self.reads.workers

    def _on_current_changed(self, index: int) -> None:
        self.reads.discard()  # the pair or its scaling changed: a read still running is of no use
        pair = self.workspace.pairs.current_pair()
        if pair is None:
            self.workspace.set_sources(None)
            return
        if self._large(pair):
            self.workspace.set_sources(None)
            self.reads.start(read_job, pair.a, pair.b, self.choices.stretch, context=f"Pair {pair.name}",
                             busy=READING, on_result=self._show, on_error=self._on_read_error)
            return
        try:
            sources = engine.read_pair_raw(pair.a, pair.b, self.choices.stretch)
        except engine.SizeMismatchError as exc:  # not registered: the window offers to align them
            self.workspace.set_sources(None)
            self.sizeMismatch.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - unreadable / corrupt: say so, keep going
            self.workspace.set_sources(None)
            self.errors.report(exc, f"Pair {pair.name}")
            return
        self._show(sources)

    def _on_read_error(self, exc: BaseException) -> None:
        if isinstance(exc, engine.SizeMismatchError):  # after the error's own message
            QTimer.singleShot(0, lambda: self.sizeMismatch.emit(str(exc)))

    def _large(self, pair) -> bool:  # noqa: ANN001
        """Read in a worker when the files are large, or when a header declares a large image (a small,
        well-compressed file can decode to hundreds of megabytes): the GUI thread never waits on a decode."""
        try:
            if sum(p.stat().st_size for p in (pair.a, pair.b)) > self.READ_IN_WORKER_BYTES:
                return True
        except OSError:
            return False  # read at once: the reader names the missing file
        return any((engine.declared_pixels(p) or 0) > self.READ_IN_WORKER_PIXELS for p in (pair.a, pair.b))

    def _show(self, read) -> None:  # noqa: ANN001 - (scaled sources, raw sources)
        self.workspace.set_sources(*read)
        self._show_cached()

    def _show_cached(self) -> None:
        """The current item's results for its task and model, as cached, or empty panels (never another
        item's or another model's result)."""
        if self.workspace.sources is None:
            return
        fused = self._cache.get(self._key(self.model))
        second = self._cache.get(self._key(self.choices.compare))
        self._set_results(fused, second)
        if fused is None and self.state.activity.training == "idle":
            self.workspace.set_maps(WeightMaps())

    def _on_setup_changed(self, index: int) -> None:
        if index == self.workspace.pairs.current:  # its task or model changed: its results are others now
            self._show_cached()

    @property
    def task(self) -> str:
        """The current item's task (the chosen one when the list is empty)."""
        setup = self.workspace.pairs.current_setup()
        return setup.task if setup else self.choices.task

    @property
    def model(self) -> MethodKey:
        """The current item's model (the chosen one when the list is empty)."""
        setup = self.workspace.pairs.current_setup()
        return setup.model if setup else self.choices.model

    def _key(self, what: MethodKey | None) -> tuple:
        """A result's cache key: the item's files (with their modification times: a file replaced on disk is
        another input), the input scaling, the task, the device, and the method (with its file's time)."""
        pair = self.workspace.pairs.current_pair()
        return (f"{pair.key}|{self.choices.stretch}|{stamps(pair.paths)}" if pair else "", self.task,
                self.choices.device, what, stamps([what.path]) if what is not None and what.path else "")

    def forget(self, method: MethodKey | None = None) -> None:
        """Drop cached results (all, or those of one method, e.g. a model file that was replaced)."""
        self._cache.drop(lambda k: method is None or k[3] == method)

    def cached(self, pair, task: str, method: MethodKey) -> Result | None:  # noqa: ANN001 - Pair
        """The cached result of ``method`` on ``pair`` with ``task`` (what Export all reuses), or None."""
        return self._cache.get((f"{pair.key}|{self.choices.stretch}|{stamps(pair.paths)}", task, self.choices.device,
                                method, stamps([method.path]) if method.path else ""))

    def rename(self, old: MethodKey, new: MethodKey, source: dict, label: str) -> None:
        """A fine-tuned model was saved as ``new``: its cached results (and those on screen) now name the file,
        its hash and its key, so that their sidecars and CSV rows say how to redo them."""
        for key in [k for k in self._cache.keys() if k[3] == old]:
            result = self._cache.get(key)
            result.source = {**result.source, **source}
            result.label = label
            self._cache.pop(key)
            self._cache.put((*key[:3], new, stamps([new.path]) if new.path else ""), result)
        if self.workspace.fused is not None and self.workspace.fused.source.get("key") == str(old):
            self.workspace.fused.source = {**self.workspace.fused.source, **source}
            self.workspace.fused.label = label
            self.workspace.set_results(self.workspace.fused, self.workspace.second)

    # ------------------------------------------------------------------ fusing
    @property
    def busy(self) -> bool:
        return self.jobs.running

    @property
    def worker(self) -> Worker | None:
        return self.jobs.worker

    def fuse(self) -> bool:
        return self._start(self.model, self.choices.compare)

    def _on_compare_changed(self, key: MethodKey) -> None:
        if self.workspace.sources is not None and self.workspace.fused is not None and not self.busy:
            self._start(None, key)

    def _start(self, model_key: MethodKey | None, compare_key: MethodKey | None) -> bool:
        ws = self.workspace
        if self.busy or ws.sources is None:
            return False
        if model_key is not None and (cached := self._cache.get(self._key(model_key))):
            model_key = None
            self._set_results(cached, ws.second)
        if compare_key is not None and (cached := self._cache.get(self._key(compare_key))):
            compare_key = None
            self._set_results(ws.fused, cached)
        if model_key is None and compare_key is None:
            return True
        a, b = ws.sources
        pair = ws.pairs.current_pair()
        stack = pair.paths if pair is not None and pair.is_stack else None
        keys = (self._key(model_key) if model_key else None, self._key(compare_key) if compare_key else None)
        self.jobs.start(fuse_job, self.task, self.choices.device, model_key, compare_key,
                        self.state.models.catalog, a, b, self.jobs.reporter("Fusing"), stack, self.choices.stretch,
                        context="Fusing", busy="Fusing…", on_result=lambda r: self._on_done(r, keys),
                        on_finish=self.finished.emit)
        return True

    def _on_done(self, results: tuple[Result | None, Result | None], keys: tuple) -> None:
        fused, second = results
        for key, res in zip(keys, results):
            if key and res is not None:
                self._cache.put(key, res)
        current = (self._key(self.model), self._key(self.choices.compare))  # the item may have changed meanwhile
        shown = [res if key is not None and key == now else None for key, res, now in zip(keys, results, current)]
        if any(r is not None for r in shown):
            self._set_results(shown[0] or self.workspace.fused, shown[1] or self.workspace.second)

    def _set_results(self, fused: Result | None, second: Result | None) -> None:
        self.workspace.set_results(fused, second)
        if fused is not None and self.state.activity.training == "idle":  # a training shows its own previews
            self.workspace.set_maps(maps_of(fused))
