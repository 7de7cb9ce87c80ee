"""``OUT/results.jsonl``: what became of each pair of a cluster run, one JSON line per pair.

Written atomically at the end of a run (readers see the last run's whole file, never half of one), in the jobs'
order: a run stopped before its end writes none (each pair's sidecar is the durable record), and the next run
rewrites it, listing the pairs done before as ``skipped``. Appending line by line instead would survive a kill,
but a resumed run would then have to merge the old lines with its own; the sidecars already give that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from refusion_core.fusing.batch import PairJob, PairRecord

RESULTS_NAME = "results.jsonl"


def results_text(records: Iterable[PairRecord], sha256: str | None, metrics: bool) -> str:
    """``results.jsonl``: a JSON line per pair, in the jobs' order as given: ``stem``, ``a``, ``b``, ``output``
    (the image; null when failed), ``status``, ``model_sha256``, ``seconds``, then ``metrics`` when asked for and
    ``error`` when failed."""
    lines = []
    for r in records:
        line = {"stem": r.job.name, "a": str(r.job.a), "b": str(r.job.b),
                "output": None if r.status == "failed" else str(r.job.out), "status": r.status,
                "model_sha256": sha256, "seconds": round(r.seconds, 4)}
        if metrics and r.status != "failed":
            line["metrics"] = r.metrics
        if r.status == "failed":
            line["error"] = r.error
        lines.append(json.dumps(line) + "\n")
    return "".join(lines)


def write_results(out_dir: str | os.PathLike, jobs: list[PairJob], records: Iterable[PairRecord],
                  sha256: str | None, metrics: bool = False) -> Path:
    """Write ``out_dir/results.jsonl`` at once, atomically: a line per record, in the order of ``jobs``."""
    from refusion_core.io.images import atomic_write_bytes

    order = {job.name: i for i, job in enumerate(jobs)}
    ordered = sorted(records, key=lambda r: order.get(r.job.name, len(order)))
    path = Path(out_dir) / RESULTS_NAME
    atomic_write_bytes(path, results_text(ordered, sha256, metrics).encode("utf-8"))
    return path


def read_results(path: str | os.PathLike) -> list[dict]:
    """The lines of a ``results.jsonl`` as dicts."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
