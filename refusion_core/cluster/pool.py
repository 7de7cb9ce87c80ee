"""The size and shape of the worker pool for a Ray cluster's resources (no Ray needed: plain numbers in and out)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from refusion_core.errors import InputError


@dataclass(frozen=True)
class Pool:
    """The actor pool: ``workers`` actors, each on ``device`` with ``threads`` CPUs (and torch threads) and
    ``gpus`` GPUs (0 on the CPU, 1 or a share of one on a GPU)."""

    workers: int
    device: str
    threads: int
    gpus: float = 0.0

    def describe(self) -> str:
        each = f"{self.gpus:g} GPU" if self.device == "cuda" else f"{self.threads} thread{'s' * (self.threads > 1)}"
        return f"Ray: {self.workers} worker{'s' * (self.workers > 1)} on {self.device}, {each} each"


def plan_pool(resources: dict, node_cpus: list[float], workers: int | None = None, device: str = "auto") -> Pool:
    """The pool for a cluster of ``resources`` (``ray.cluster_resources()``: ``CPU``, ``GPU``) whose nodes have
    ``node_cpus`` CPUs each. ``device``: ``auto`` (GPUs when the cluster has them), ``cpu`` or ``cuda``.
    Raises InputError for ``workers`` below 1, ``cuda`` on a cluster without GPUs, or more workers than it holds."""
    cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: give a number of workers of at least 1")
    if device == "cuda" and gpus < 1:
        raise InputError("--device cuda: the Ray cluster has no GPU; leave --device at auto or use cpu")
    if device != "cpu" and gpus >= 1:
        n = workers or gpus
        share = 1.0 if n <= gpus else 1.0 / math.ceil(n / gpus)
        if n > cpus:
            raise InputError(f"--workers {n}: the Ray cluster has {cpus} CPUs, and each worker needs one")
        return Pool(n, "cuda", 1, share)
    n = workers or max(1, cpus // 2)
    if n > cpus:
        raise InputError(f"--workers {n}: the Ray cluster has {cpus} CPUs, and each worker needs at least one")
    threads = max(1, min(cpus // n, int(max(node_cpus, default=1))))
    return Pool(n, "cpu", threads)
