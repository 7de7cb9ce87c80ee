"""Fusing many pairs with one loaded model: ``refusion fuse --pairs`` / ``--manifest``, and anything else that runs
the same per-pair step (a pool of workers each holding one model).

The parts:

- :func:`plan_outputs` names each pair's output before any work: ``<stem>.<fmt>`` and ``<stem>.refusion.json``
  in one folder, ``stem`` the pair's shared file stem (``a__b`` when the stems differ). Two pairs with one name,
  or an output that would replace a source, are refused up front.
- :class:`PairFuser` holds a :class:`~refusion_core.fusing.fuser.Fuser` and the batch's :class:`BatchOptions`;
  :meth:`PairFuser.run` does one pair, start to end (read, scale, fuse, write the image, write the sidecar) and
  returns a :class:`PairRecord` of plain values, so that it can run in another process and report back.
- :func:`fuse_pairs` runs a list of jobs through one :class:`PairFuser` and yields a record per pair.

Choices:

- **Resumable.** A pair whose output is current is skipped: the image decodes, and its sidecar records the same
  model (file SHA-256), the same sources (absolute paths), the same settings and names the image among its
  outputs. The image is written before its sidecar, each atomically, so a run killed at any point leaves either
  a finished pair or one that the next run redoes; never a file that looks done and is not.
- **One bad pair does not stop the batch.** A pair that cannot be done for a reason of its own (an unreadable
  or corrupt source, sizes that differ, memory running out on one huge image) becomes a ``failed`` record with
  its one-line reason. Errors of the whole run (the disk full, the output folder read-only) are raised: every
  later pair would fail the same way.
- **Metrics** (``BatchOptions.metrics``) are the task's paper metrics (:data:`refusion_core.metrics.PAPER_METRICS`)
  on the luminance of the sources as fused (after input scaling, as the app computes them) and of the image as
  written. A skipped pair's come from its sidecar, or are computed from the files on disk (and stored in the
  sidecar) when it has none.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refusion_core.errors import InputError, RefusionError
from refusion_core.io.sidecar import (
    SIDECAR_SUFFIX,
    model_record,
    read_sidecar,
    redo_command,
    sidecar_record,
    write_sidecar,
)

FORMATS = ("png", "tif")
STATUSES = ("written", "skipped", "failed")
CSV_COLUMNS = ("pair", "a", "b", "model", "model_sha256")
"""The first columns of :func:`metrics_csv`; the task's metric names follow."""


@dataclass(frozen=True)
class PairJob:
    """One pair to fuse: its sources (absolute paths) and the two files it makes."""

    name: str
    a: Path
    b: Path
    out: Path
    sidecar: Path

    def to_dict(self) -> dict[str, str]:
        """The job as plain strings: a row of a Ray dataset (:mod:`refusion_core.cluster.ray_fuse`)."""
        return {"name": self.name, "a": str(self.a), "b": str(self.b), "out": str(self.out),
                "sidecar": str(self.sidecar)}

    @classmethod
    def from_dict(cls, d: dict) -> PairJob:
        return cls(str(d["name"]), Path(d["a"]), Path(d["b"]), Path(d["out"]), Path(d["sidecar"]))


@dataclass(frozen=True)
class BatchOptions:
    """How each pair is fused and written (the same for the whole batch).

    ``stretch_input``: the input scaling of A and of B (``auto``, ``none`` or ``percentile``,
    :func:`refusion_core.io.scaling.prepare_input`) with ``percentiles``; ``stretch``: min-max stretch the fused
    luminance; ``bit_depth``: 8 or 16, None = 16 when either source is 16-bit; ``keep_exif``: copy the first
    source's EXIF that has one; ``metrics``: compute the task's paper metrics."""

    task: str
    stretch_input: tuple[str, str] = ("auto", "auto")
    percentiles: tuple[float, float] = (0.5, 99.5)
    stretch: bool = False
    bit_depth: int | None = None
    keep_exif: bool = True
    metrics: bool = False

    def settings(self) -> dict:
        """What decides the pixels of a result, as the sidecar records it (and a resumed run compares)."""
        return {"stretch_input": list(self.stretch_input), "percentiles": [float(p) for p in self.percentiles],
                "stretch": self.stretch, "bit_depth": self.bit_depth, "keep_exif": self.keep_exif}


@dataclass
class PairRecord:
    """What became of one pair: ``status`` written | skipped | failed, ``error`` (one line) when failed,
    ``metrics`` (name -> value) when asked for, ``seconds`` spent on it."""

    job: PairJob
    status: str
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain values (JSON-ready), so that a worker process can send the record back."""
        return {"job": self.job.to_dict(), "status": self.status, "error": self.error,
                "metrics": {k: float(v) for k, v in self.metrics.items()}, "seconds": float(self.seconds)}

    @classmethod
    def from_dict(cls, d: dict) -> PairRecord:
        return cls(PairJob.from_dict(d["job"]), d["status"], d.get("error"), dict(d.get("metrics") or {}),
                   float(d.get("seconds", 0.0)))


def output_stem(a: str | os.PathLike, b: str | os.PathLike) -> str:
    """The name a pair's outputs share: the sources' common file stem, or ``<stem a>__<stem b>`` (as the app names
    its exports), with characters other than letters, digits, ``-``, ``_`` and ``.`` replaced by ``_``."""
    sa, sb = Path(a).stem, Path(b).stem
    name = sa if sa == sb else f"{sa}__{sb}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def plan_outputs(pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]], out_dir: str | os.PathLike,
                 fmt: str = "png") -> list[PairJob]:
    """A :class:`PairJob` per pair, in order: ``out_dir/<stem>.<fmt>`` and ``out_dir/<stem>.refusion.json``.

    Raises InputError, before anything is done, when two pairs would write the same file or an output would
    replace one of the sources (``out_dir`` being a source folder)."""
    from refusion_core.io.images import check_not_an_input

    if fmt not in FORMATS:
        raise InputError(f"Unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    jobs, seen = [], {}
    for a, b in pairs:
        a, b = _absolute(a), _absolute(b)
        name = output_stem(a, b)
        if name in seen:
            raise InputError(f"Two pairs would both be written as {name}.{fmt}: {seen[name].name} and {a.name} "
                             "(sources with the same name in different folders); fuse them into separate folders")
        seen[name] = a
        job = PairJob(name, a, b, out_dir / f"{name}.{fmt}", out_dir / f"{name}{SIDECAR_SUFFIX}")
        check_not_an_input(job.out, [a, b])
        jobs.append(job)
    return jobs


def _absolute(p: str | os.PathLike) -> Path:
    return Path(os.path.abspath(p))  # normalised (no "..") without resolving links: the path the user gave


class PairFuser:
    """One model and one batch's options: :meth:`run` fuses a :class:`PairJob` and writes its image and sidecar.

    ``fuser``: a loaded :class:`~refusion_core.fusing.fuser.Fuser` (its bundle's ``sha256`` identifies the model
    in the sidecars); ``label``/``kind``: the model as the sidecar names it (:func:`model_record`; ``kind``
    ``default`` for the task's default weights).

    ``fuser`` None with ``model`` given (a :func:`model_record`, of which :meth:`is_current` needs only the
    ``sha256``, the hash of the weights file): a PairFuser that tells which pairs are done (:meth:`is_current`,
    :meth:`skip`) without loading the model, for a driver that leaves the fusing to workers which each load it
    (:mod:`refusion_core.cluster.ray_fuse`). Its :meth:`run` cannot fuse."""

    def __init__(self, fuser, options: BatchOptions, label: str | None = None, kind: str | None = None,
                 model: dict | None = None):
        from refusion_core.metrics import PAPER_METRICS

        self.fuser, self.options = fuser, options
        self.model = model if model is not None else model_record(fuser.bundle, str(fuser.device), label, kind)
        self.metric_names = list(PAPER_METRICS[options.task]) if options.metrics else []

    @property
    def sha256(self) -> str | None:
        return self.model["sha256"]

    def is_current(self, job: PairJob) -> bool:
        """Whether ``job``'s output is done and intact: it decodes, and its sidecar records this model, these
        sources and these settings and lists it among its outputs."""
        return self._current_record(job) is not None

    def run(self, job: PairJob, redo: bool = False) -> PairRecord:
        """Fuse one pair (or skip it when current, unless ``redo``). A failure of the pair's own (see the module
        docstring) is returned as a ``failed`` record; errors of the whole run are raised."""
        if not redo:
            done = self.skip(job)
            if done is not None:
                return done
        start = time.perf_counter()
        try:
            metrics = self._fuse(job)
        except (RefusionError, MemoryError, RuntimeError) as err:
            return _failed(job, err, start)
        return PairRecord(job, "written", metrics=metrics, seconds=time.perf_counter() - start)

    def skip(self, job: PairJob) -> PairRecord | None:
        """The ``skipped`` record of a pair whose output is current (its metrics, when asked, from the sidecar or
        computed from the files), or None when the pair is still to be fused. Needs no model."""
        start = time.perf_counter()
        try:
            record = self._current_record(job)
            if record is None:
                return None
            metrics = self._stored_metrics(job, record) if self.metric_names else {}
        except (RefusionError, MemoryError) as err:
            return _failed(job, err, start)
        return PairRecord(job, "skipped", metrics=metrics, seconds=time.perf_counter() - start)

    # --- the steps ---------------------------------------------------------------------------------------------

    def _sources(self, job: PairJob) -> tuple[list[np.ndarray], list[np.ndarray], bytes | None]:
        """(as stored, as fused, EXIF to copy) for a job's two sources."""
        from refusion_core.io.images import check_pair, read_image_exif
        from refusion_core.io.scaling import prepare_input

        loaded = [_read(read_image_exif, path, side) for path, side in ((job.a, "A"), (job.b, "B"))]
        stored = [img for img, _ in loaded]
        check_pair(stored[0], stored[1], (job.a.name, job.b.name))
        o = self.options
        scaled = [prepare_input(img, mode, o.percentiles) for img, mode in zip(stored, o.stretch_input)]
        exif = next((e for _, e in loaded if e), None) if o.keep_exif else None
        return stored, scaled, exif

    def _fuse(self, job: PairJob) -> dict[str, float]:
        from refusion_core.io.images import write_image

        stored, scaled, exif = self._sources(job)
        res = self.fuser.fuse(*scaled, stretch=self.options.stretch, maps=False)
        depth = self.options.bit_depth or (16 if any(img.dtype == np.uint16 for img in stored) else 8)
        fused = _at_depth(res.fused, depth)
        metrics = self._metrics(scaled, fused)
        write_image(job.out, fused, exif=exif)  # the image first, then the sidecar that says it is done
        write_sidecar(job.sidecar, self._record(job, metrics, exif is not None, depth))
        return metrics

    def _record(self, job: PairJob, metrics: dict[str, float], exif: bool, depth: int) -> dict:
        o = self.options
        export = {"folder": str(job.out.parent), "fmt": job.out.suffix.lstrip("."), "bit_depth": depth,
                  "fused": True, "second": False, "maps": False, "metrics": o.metrics, "scope": "all",
                  "keep_exif": o.keep_exif}
        scaling = ",".join(o.stretch_input) if len(set(o.stretch_input)) > 1 else o.stretch_input[0]
        redo = redo_command([job.a, job.b], job.out.name, o.task, self.model, depth, scaling, o.keep_exif,
                            o.percentiles, o.stretch)
        return sidecar_record({"a": job.a, "b": job.b}, o.task, self.model, [job.out.name],
                              metrics={self.model["label"]: metrics} if metrics else {}, input_scaling=scaling,
                              exif_copied_from=str(job.a) if exif else None, settings=o.settings(), export=export,
                              redo=redo)

    def _metrics(self, sources: list[np.ndarray], fused: np.ndarray) -> dict[str, float]:
        if not self.metric_names:
            return {}
        from refusion_core.metrics import compute_metrics, to_gray255

        return compute_metrics(to_gray255(sources[0]), to_gray255(sources[1]), to_gray255(fused), self.metric_names)

    def _current_record(self, job: PairJob) -> dict | None:
        from refusion_core.io.images import read_image

        record = read_sidecar(job.sidecar)
        if record is None or not job.out.is_file() or self.sha256 is None:
            return None
        model = record.get("model") if isinstance(record.get("model"), dict) else {}
        if (model.get("sha256") != self.sha256 or record.get("sources") != {"a": str(job.a), "b": str(job.b)}
                or record.get("settings") != self.options.settings() or job.out.name not in record.get("outputs", ())):
            return None
        try:
            read_image(job.out)  # a truncated or damaged file does not decode: it is redone
        except RefusionError:
            return None
        return record

    def _stored_metrics(self, job: PairJob, record: dict) -> dict[str, float]:
        """A skipped pair's metrics: from its sidecar, or computed from the files (and then stored there)."""
        from refusion_core.io.images import read_image

        stored = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        for values in stored.values():
            if isinstance(values, dict) and all(isinstance(values.get(n), (int, float)) for n in self.metric_names):
                return {n: float(values[n]) for n in self.metric_names}
        _, scaled, _ = self._sources(job)
        metrics = self._metrics(scaled, read_image(job.out))
        write_sidecar(job.sidecar, {**record, "metrics": {**stored, self.model["label"]: metrics}})
        return metrics


def fuse_pairs(jobs: Iterable[PairJob], pair_fuser: PairFuser, redo: bool = False) -> Iterator[PairRecord]:
    """Run each job through ``pair_fuser`` in order; a :class:`PairRecord` per job, as each finishes."""
    for job in jobs:
        yield pair_fuser.run(job, redo)


def metrics_csv(records: Iterable[PairRecord], names: list[str], model: dict) -> str:
    """CSV text: a row per pair that has metrics, columns :data:`CSV_COLUMNS` then ``names``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *names])
    for r in records:
        if r.metrics:
            writer.writerow([r.job.name, str(r.job.a), str(r.job.b), model["label"], model["sha256"] or "",
                             *(f"{r.metrics[n]:.6g}" for n in names)])
    return buf.getvalue()


def _read(read, path: Path, side: str):
    """``read(path)``, its error saying which source failed (the two folders often hold the same file names)."""
    try:
        return read(path)
    except RefusionError as err:
        raise type(err)(f"source {side}: {err}") from err


def _at_depth(img: np.ndarray, depth: int) -> np.ndarray:
    from refusion_core.io.images import from_float, to_float

    target = np.uint8 if depth == 8 else np.uint16
    return img if img.dtype == target else from_float(to_float(img), target)


def _failed(job: PairJob, err: BaseException, start: float) -> PairRecord:
    """A pair's own failure as a record; a RuntimeError other than torch's out of memory (CUDA, on one large
    image) is a bug and raised."""
    if isinstance(err, RuntimeError) and "out of memory" not in str(err).lower():
        raise err
    return PairRecord(job, "failed", _reason(err), seconds=time.perf_counter() - start)


def _reason(err: BaseException) -> str:
    if isinstance(err, MemoryError):
        return "not enough memory for this pair"
    if isinstance(err, RuntimeError):
        return "the GPU ran out of memory on this pair; try --device cpu"
    return str(err)
