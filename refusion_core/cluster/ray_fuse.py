"""Fusing an archive of pairs on a Ray cluster: ``refusion fuse --pairs DIR_A DIR_B --out-dir OUT --cluster ...``.

The jobs of :func:`refusion_core.fusing.batch.plan_outputs` go, as plain dicts, into a Ray Data dataset
(``ray.data.from_items``) that streams through a pool of actors (``map_batches`` with :class:`PairWorker`, a
callable class). Each actor loads the model once, in ``__init__``, and runs every pair it is given through
:meth:`PairFuser.run <refusion_core.fusing.batch.PairFuser.run>`, the step the single-process command runs, so the
images are byte for byte those of ``refusion fuse --pairs`` (the sidecars differ in their ``created`` time and the
``device`` of their model). Records come back as JSON text, one per pair, as each finishes.

Choices:

- **Where it runs** (:func:`ray_cluster`): ``auto`` joins the cluster ``RAY_ADDRESS`` names or one started on this
  machine (``ray start --head``), else starts a local one; ``local`` always starts a local one with this machine's
  CPUs (and GPUs); any other value is an address for ``ray.init`` (``HEAD_IP:6379``, or ``ray://HEAD_IP:10001``
  through Ray Client). A Ray already initialised in this process (a test, a notebook) is used as it is and left
  running. Images and the weights file are read by path: every node must see them at the same path (a shared file
  system), and write to ``--out-dir`` there.
- **How many workers** (:func:`refusion_core.cluster.pool.plan_pool`): one per GPU on a cluster with GPUs
  (``num_gpus=1``; more workers than GPUs share them, ``num_gpus=1/k``), else one per 2 CPUs, each with
  ``num_cpus=threads`` and as many torch threads (``torch.set_num_threads`` in the actor); ``workers`` overrides the
  count. A pool that the cluster cannot hold is refused up front instead of waiting for resources forever.
- **Resumable.** The driver skips, before scheduling, every pair whose output is current
  (:meth:`PairFuser.skip`: the image decodes and its sidecar names the same model SHA-256, sources and settings).
  That check needs no model, only the weights file's hash; it runs on the driver in a few threads (reading a
  sidecar, decoding a PNG), so that the workers see only the pairs left. The workers run the same check again
  (``PairFuser.run``) and would skip a pair that another run finished meanwhile.
- **One bad pair does not stop the run**: it comes back as a ``failed`` record. An error of the whole run in a
  worker (the disk full, a weights file missing or different on one node) stops it and is raised here as the same
  error (one line in the CLI); a failure of Ray itself (a node lost for good) as a RefusionError that says so.
- **Blocks**: a block (what one actor task takes) holds ``pairs // (32 × workers)`` pairs, at least 1 and at most
  64: records stream back pair by pair on a run of a few hundred pairs, and an archive does not flood the scheduler
  with tiny tasks. Records reach the driver in the order they finish, not in the jobs' order (the CLI's
  ``results.jsonl``, :mod:`refusion_core.cluster.results`, puts them back in order).
- **Quiet**: Ray's progress bars are off (the caller shows its own), the workers' output is not forwarded to the
  driver (``log_to_driver=False``; it stays in Ray's session logs under /tmp/ray), and Ray's console logging is set
  to ``log_level`` (its log files keep everything).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from refusion_core.cluster.pool import Pool, plan_pool
from refusion_core.errors import InputError, RefusionError, WeightsError
from refusion_core.fusing.batch import BatchOptions, PairFuser, PairJob, PairRecord

INSTALL_HINT = 'pip install "refusion-studio[cluster]"'
PAIRS_PER_BLOCK = 64
"""The most pairs in one block (one actor task); see the module docstring."""


def import_ray():
    """The ``ray`` module with Ray Data, or an InputError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra's other half (pyarrow, pandas)
    except ImportError:
        raise InputError(f"--cluster runs on Ray, which is not installed here: {INSTALL_HINT}") from None
    return ray


@contextmanager
def ray_cluster(cluster: str = "auto", log_level: int = logging.ERROR):
    """Connect to (or start) the Ray cluster ``cluster`` names (see the module docstring); yields ``ray``, and
    disconnects (stopping a cluster started here) at the end. Raises InputError when an address cannot be reached."""
    ray = import_ray()
    if ray.is_initialized():  # the caller's own Ray: used as it is, and left running
        yield ray
        return
    quiet = {"log_to_driver": False, "logging_level": log_level}
    local = {"address": "local", "num_cpus": _cpu_count(), "include_dashboard": False, **quiet}
    try:
        if cluster == "local":
            ray.init(**local)
        elif cluster == "auto":
            try:
                ray.init(address="auto", **quiet)
            except ConnectionError:  # no cluster named by RAY_ADDRESS or running on this machine
                ray.init(**local)
        else:
            ray.init(address=cluster, **quiet)
    except ConnectionError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"Cannot reach a Ray cluster at {cluster}: {reason}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its :class:`PairFuser` (plain values, sent to every actor): the model
    (``weights`` the file's absolute path, None = the task's default; ``weights_given`` the path as the user gave it,
    which the sidecars record as the single-process command's do; ``kind`` as the sidecar names it; ``sha256`` the
    driver's hash of the file), the batch's options, the device and the torch threads."""

    task: str
    weights: str | None
    weights_given: str | None
    kind: str | None
    sha256: str | None
    options: BatchOptions
    device: str = "cpu"
    threads: int = 1


class PairWorker:
    """A Ray Data actor: loads the model once (``__init__``), then fuses each batch's pairs with
    :meth:`PairFuser.run`. A batch is ``{"name": [...], "a": [...], ...}`` (:meth:`PairJob.to_dict` as columns);
    the answer is ``{"record": [JSON of PairRecord.to_dict() with the model's sha256, ...]}``.

    An error of the whole run (the model not loadable on this node, or another file than the driver's; the disk
    full) is not raised to Ray but sent back as a record ``{"fatal": {"type": ..., "message": ...}}`` that the driver
    raises as the same error: Ray passes a worker's exception on only as the text of a traceback."""

    def __init__(self, spec: WorkerSpec, redo: bool = False):
        import torch

        torch.set_num_threads(spec.threads)
        self.redo, self.error, self.pair_fuser = redo, None, None
        try:
            self.pair_fuser = _pair_fuser(spec)
        except RefusionError as err:
            self.error = err

    def __call__(self, batch: dict) -> dict:
        rows = [dict(zip(batch, values)) for values in zip(*(batch[k] for k in batch))]
        try:
            if self.error is not None:
                raise self.error
            records = [self.pair_fuser.run(PairJob.from_dict(row), self.redo) for row in rows]
        except (RefusionError, OSError, MemoryError) as err:
            return {"record": [json.dumps({"fatal": _error_to_dict(err)})]}
        sha = self.pair_fuser.sha256
        return {"record": [json.dumps({**r.to_dict(), "model_sha256": sha}) for r in records]}


def _pair_fuser(spec: WorkerSpec) -> PairFuser:
    import socket

    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model

    try:
        bundle = load_model(spec.weights, spec.task)
    except WeightsError as err:
        raise WeightsError(f"On {socket.gethostname()}: {err} (every node must see the weights file at the same "
                           "path)") from None
    if bundle.sha256 != spec.sha256:
        raise WeightsError(f"{bundle.path} on {socket.gethostname()} is not the model the run was started with "
                           "(its SHA-256 differs); give every node the same weights file")
    if spec.weights_given is not None:
        bundle.path = Path(spec.weights_given)
    return PairFuser(Fuser(bundle, spec.device), spec.options, kind=spec.kind)


class RayBatch:
    """Fuse pairs on a Ray cluster: ``RayBatch(...).run(jobs)`` yields a :class:`PairRecord` per job as each
    finishes (skipped ones first). ``model`` is the sidecar's model record as the driver knows it (the weights file
    is read here, which checks it before any cluster starts; its ``device`` is ``ray``, the workers' sidecars name
    their own); ``pool`` says what ran, once :meth:`run` has started the workers."""

    def __init__(self, task: str, weights: str | os.PathLike | None, options: BatchOptions, *,
                 kind: str | None = None, cluster: str = "auto", workers: int | None = None, device: str = "auto",
                 log_level: int = logging.ERROR):
        from refusion_core.io.sidecar import model_record
        from refusion_core.models.checkpoint import load_model

        import_ray()
        bundle = load_model(weights, task)  # a missing or broken file is said now, not by every worker
        self.model = model_record(bundle, "ray", kind=kind)
        self.task, self.weights, self.options, self.kind = task, weights, options, kind
        self.cluster, self.workers, self.device, self.log_level = cluster, workers, device, log_level
        self.pool: Pool | None = None

    def run(self, jobs: list[PairJob], redo: bool = False) -> Iterator[PairRecord]:
        """A record per job: first those already done (unless ``redo``), then the workers' as they finish. The
        output paths are made absolute here (a worker's working folder is not the driver's)."""
        jobs = [replace(job, out=_absolute(job.out), sidecar=_absolute(job.sidecar)) for job in jobs]
        todo = jobs
        if not redo:
            todo = []
            for job, record in zip(jobs, _check(PairFuser(None, self.options, model=self.model), jobs)):
                if record is None:
                    todo.append(job)
                else:
                    yield record
        if not todo:
            return
        with ray_cluster(self.cluster, self.log_level) as ray:
            self.pool = plan_pool(ray.cluster_resources(), _node_cpus(ray), self.workers, self.device)
            yield from self._stream(ray, todo, redo)

    def _stream(self, ray, todo: list[PairJob], redo: bool) -> Iterator[PairRecord]:
        pool = self.pool
        given = None if self.weights is None else str(self.weights)
        spec = WorkerSpec(self.task, given and str(_absolute(Path(given))), given, self.kind, self.model["sha256"],
                          self.options, pool.device, pool.threads)
        _quiet_ray_data(self.log_level)
        per_block = max(1, min(PAIRS_PER_BLOCK, len(todo) // (32 * pool.workers)))
        blocks = math.ceil(len(todo) / per_block)
        ds = ray.data.from_items([job.to_dict() for job in todo], override_num_blocks=blocks)
        ds = ds.map_batches(PairWorker, fn_constructor_kwargs={"spec": spec, "redo": redo}, batch_size=1,
                            compute=ray.data.ActorPoolStrategy(size=pool.workers), num_cpus=pool.threads,
                            num_gpus=pool.gpus or None)
        try:
            for row in ds.iter_rows():
                record = json.loads(row["record"])
                if "fatal" in record:
                    raise _error_from_dict(record["fatal"])
                yield PairRecord.from_dict(record)
        except Exception as err:
            from ray.exceptions import RayError, UserCodeException

            if not isinstance(err, RayError) or isinstance(err, UserCodeException):  # ours, or a bug in a worker
                raise
            first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
            raise RefusionError(f"The Ray cluster stopped the run ({type(err).__name__}: {first}); the pairs done are "
                                "kept: run the same command again to do the rest (Ray's logs: /tmp/ray/session_latest "
                                "on each node)") from err


def _check(checker: PairFuser, jobs: list[PairJob]) -> Iterator[PairRecord | None]:
    """``checker.skip`` of each job, in order, on a few threads (file reads and PNG decoding release the GIL)."""
    with ThreadPoolExecutor(max_workers=min(8, 2 * _cpu_count())) as threads:
        yield from threads.map(checker.skip, jobs)


def _error_to_dict(err: BaseException) -> dict:
    if isinstance(err, OSError):
        return {"type": "OSError", "errno": err.errno, "strerror": err.strerror, "filename": err.filename,
                "message": str(err)}
    return {"type": type(err).__name__, "message": str(err)}


def _error_from_dict(d: dict) -> BaseException:
    """The error a worker sent back (:func:`_error_to_dict`), as the engine's class of it."""
    from refusion_core import errors

    if d["type"] == "OSError":
        return OSError(d["errno"], d["strerror"], d["filename"]) if d.get("errno") else OSError(d["message"])
    if d["type"] == "MemoryError":
        return MemoryError(d["message"])
    cls = getattr(errors, d["type"], None)
    return (cls if isinstance(cls, type) and issubclass(cls, RefusionError) else RefusionError)(d["message"])


def _quiet_ray_data(level: int) -> None:
    """Ray Data's progress bars off and its console logging at ``level`` (its log file keeps the rest)."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(max(handler.level, level))


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))  # as plan_outputs makes the sources absolute: normalised, links kept


def _node_cpus(ray) -> list[float]:
    return [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
