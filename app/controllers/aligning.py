"""Aligning one item (a pair or a stack) to its first frame: reading its files, estimating with the chosen
settings, writing the aligned files. Each step is a job of :mod:`app.core.align` (writing the files: of
:mod:`app.core.align_writing`) in the aligner's runner; the aligner keeps what was read and the last estimate,
and the Align dialog shows them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.core.align import AlignSettings, Estimate, Loaded, estimate_job, load_job
from app.core.align_writing import default_out_dir, write_job
from app.core.pairing import Pair
from app.qt.errors import ErrorHandler, describe
from app.qt.jobs import JobRunner


class Aligner(QObject):
    loaded = Signal(object)  # Loaded: the files were read
    estimated = Signal(object)  # Estimate
    written = Signal(list)  # the written paths (images, then transforms.json)
    failed = Signal(str)  # a step failed: the one sentence the error handler also shows

    def __init__(self, pair: Pair, errors: ErrorHandler) -> None:
        super().__init__()
        self.pair = pair
        self.jobs = JobRunner(errors)
        self.sources: Loaded | None = None
        self.estimation: Estimate | None = None

    @property
    def busy(self) -> bool:
        return self.jobs.running

    def load(self) -> None:
        self._run(load_job, self.pair.paths, on_result=self._on_loaded)

    def estimate(self, settings: AlignSettings) -> bool:
        """Register every frame to the first with ``settings``; False when busy or not read yet."""
        if self.busy or self.sources is None:
            return False
        self.forget_estimate()
        self._run(estimate_job, self.sources, settings, on_result=self._on_estimated)
        return True

    def forget_estimate(self) -> bool:
        """A setting changed: the estimate no longer applies. True if there was one."""
        had, self.estimation = self.estimation is not None, None
        return had

    def out_dir(self, settings: AlignSettings) -> Path:
        """Where the aligned files go unless the dialog was given a folder: one per source set and settings."""
        return default_out_dir(self.pair.paths, self.estimation.settings if self.estimation else settings)

    def write(self, out_dir: Path) -> bool:
        """Write the aligned files of the estimate into ``out_dir`` (a complete folder or nothing)."""
        if self.busy or self.estimation is None or self.sources is None:
            return False
        self._run(write_job, self.sources, self.estimation, out_dir, on_result=self.written.emit)
        return True

    def shutdown(self) -> None:
        """The dialog closes: abort a running step between two frames, wait for it, deliver nothing more."""
        self.jobs.shutdown()

    def _run(self, job, *args, on_result) -> None:  # noqa: ANN001
        self.jobs.start(job, *args, context="Align", on_result=on_result,
                        on_error=lambda exc: self.failed.emit(describe(exc)[1]))

    def _on_loaded(self, loaded: Loaded) -> None:
        self.sources = loaded
        self.loaded.emit(loaded)

    def _on_estimated(self, est: Estimate) -> None:
        self.estimation = est
        self.estimated.emit(est)
