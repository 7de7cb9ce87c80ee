"""Throughput of folder fusion (``refusion fuse --pairs``): single-process against a Ray actor pool of 1 and 2
workers on this machine, and where a pair's time goes (reading, input scaling, fusion, writing).

N synthetic pairs (default 40 of 256×256: a grey "infrared" and an RGB "visible" view of one smooth random scene)
are written to a temporary folder and fused with the task's default ivif weights, each configuration into its own
empty folder, configurations alternating when ``--repeat`` > 1:

- ``single-process``: :func:`refusion_core.fusing.batch.fuse_pairs` with one PairFuser (what ``refusion fuse
  --pairs`` runs), torch using every core. Its run is instrumented: the time inside reading the two sources
  (``read_image_exif`` and the size check), the input scaling (``prepare_input``), ``Fuser.fuse``, writing the
  image and writing the sidecar, summed over the pairs.
- ``ray N workers``: :class:`refusion_core.cluster.ray_fuse.RayBatch` (what ``--cluster`` runs) on a local cluster
  started once (``ray.init(num_cpus=cores)``, its start timed apart). ``startup`` is from the call to the first
  record (the dataset's planning, the actors' start and their model loading, the first pair); ``steady`` is the
  rate at which the middle half of the records arrive (records come back in bunches at first, as the pool
  fills); ``overall`` counts the whole call; ``ms per pair`` is the mean time
  inside ``PairFuser.run`` (in the workers for Ray).
- ``Ray's cost per pair``: the same on ``--tiny-pairs`` pairs of 32×32, whose fusion takes a few milliseconds, so
  that what Ray adds to each pair (scheduling a block, sending a row and its record) shows: the wall time per pair
  of the busiest-possible pool minus the time inside ``PairFuser.run``.
- ``resume check``: the driver's check of N finished pairs (``PairFuser.skip`` on a few threads, no model), the
  cost of a rerun before anything is scheduled.

    python benchmarks/bench_cluster.py                  # 40 pairs of 256×256, workers 1 and 2
    python benchmarks/bench_cluster.py --pairs 80 --size 512 --repeat 2
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
STEPS = ("read", "scale", "fuse", "write image", "write sidecar")


def scene(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey 'infrared' and an RGB 'visible' view (uint8, size × size) of one smooth random scene."""
    import cv2

    rng = np.random.default_rng(seed)

    def smooth(sigma):
        x = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), sigma)
        return (x - x.min()) / (x.max() - x.min() + 1e-9)

    base = smooth(6.0)
    ir = 0.7 * base + 0.3 * smooth(2.0)
    vis = np.dstack([0.6 * base + 0.4 * smooth(1.5) for _ in range(3)])
    return (ir * 255).astype(np.uint8), (vis * 255).astype(np.uint8)


def write_pairs(root: Path, n: int, size: int) -> list[tuple[Path, Path]]:
    from refusion_core.io.images import write_image

    pairs = []
    for i in range(n):
        ir, vis = scene(size, i)
        pairs.append((write_image(root / "A" / f"s{i:04d}.png", ir), write_image(root / "B" / f"s{i:04d}.png", vis)))
    return pairs


class StepTimer:
    """Sums the seconds spent inside named functions, by patching them on their modules for a ``with`` block."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._undo = []

    def wrap(self, owner, name: str, step: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[step] += time.perf_counter() - start

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def single_process(pairs, out: Path, task: str) -> dict:
    """fuse_pairs over every pair, its steps timed."""
    from refusion_core.fusing import batch
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.io import images, scaling
    from refusion_core.models.checkpoint import load_model

    start = time.perf_counter()
    pair_fuser = batch.PairFuser(Fuser(load_model(None, task), "cpu"), batch.BatchOptions(task), kind="default")
    loaded = time.perf_counter()
    jobs = batch.plan_outputs(pairs, out)
    with StepTimer() as timer:
        for owner, name, step in [(images, "read_image_exif", "read"), (images, "check_pair", "read"),
                                  (scaling, "prepare_input", "scale"), (images, "write_image", "write image"),
                                  (batch, "write_sidecar", "write sidecar")]:
            timer.wrap(owner, name, step)
        timer.wrap(pair_fuser.fuser, "fuse", "fuse")
        records, arrivals = [], []
        for record in batch.fuse_pairs(jobs, pair_fuser):
            records.append(record)
            arrivals.append(time.perf_counter())
    assert all(r.status == "written" for r in records), [r.error for r in records if r.error]
    return {"startup": loaded - start, "start": start, "arrivals": [loaded, *arrivals], "records": records,
            "steps": dict(timer.seconds), "workers": 1}


def on_ray(pairs, out: Path, task: str, workers: int) -> dict:
    from refusion_core.cluster.ray_fuse import RayBatch
    from refusion_core.fusing.batch import BatchOptions, plan_outputs

    jobs = plan_outputs(pairs, out)
    start = time.perf_counter()
    run = RayBatch(task, None, BatchOptions(task), kind="default", workers=workers, device="cpu")
    records, arrivals = [], []
    for record in run.run(jobs):
        records.append(record)
        arrivals.append(time.perf_counter())
    assert all(r.status == "written" for r in records), [r.error for r in records if r.error]
    return {"startup": arrivals[0] - start, "start": start, "arrivals": arrivals, "records": records,
            "workers": workers, "pool": run.pool}


def steady_rate(arrivals: list[float]) -> float:
    """Records per second over the middle half of a run's arrival times."""
    k1, k2 = len(arrivals) // 4, max(len(arrivals) * 3 // 4, len(arrivals) // 4 + 1)
    k2 = min(k2, len(arrivals) - 1)
    return (k2 - k1) / max(arrivals[k2] - arrivals[k1], 1e-9)


def resume_check(pairs, out: Path, task: str) -> dict:
    from refusion_core.cluster.ray_fuse import RayBatch
    from refusion_core.fusing.batch import BatchOptions, plan_outputs

    jobs = plan_outputs(pairs, out)
    start = time.perf_counter()
    records = list(RayBatch(task, None, BatchOptions(task), kind="default", device="cpu").run(jobs))
    assert all(r.status == "skipped" for r in records)
    return {"seconds": time.perf_counter() - start, "pairs": len(records)}


def row(label: str, runs: list[dict], n: int) -> str:
    med = lambda key: statistics.median(key(r) for r in runs)  # noqa: E731
    steady = med(lambda r: steady_rate(r["arrivals"]))
    overall = med(lambda r: n / (r["arrivals"][-1] - r["start"]))
    mean_pair = med(lambda r: statistics.mean(x.seconds for x in r["records"]))
    return f"{label:<26} {med(lambda r: r['startup']):>9.2f} {steady:>13.2f} {overall:>14.2f} {mean_pair * 1000:>12.0f}"


def print_cost(single: dict, ray_run: dict, n: int) -> None:
    """Ray's own cost per pair, from a run of tiny pairs on one worker."""
    inside = statistics.mean(x.seconds for x in ray_run["records"])
    wall, here = 1 / steady_rate(ray_run["arrivals"]), 1 / steady_rate(single["arrivals"])
    print(f"\nRay's cost per pair ({n} pairs of 32×32, 1 worker): {wall * 1000:.1f} ms per pair of wall time, "
          f"{inside * 1000:.1f} ms of it inside PairFuser.run: about {(wall - inside) * 1000:.1f} ms added "
          f"(single-process: {here * 1000:.1f} ms per pair)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--size", type=int, default=256, help="side of the square images (default 256)")
    ap.add_argument("--workers", default="1,2", help="Ray pool sizes to measure (default 1,2)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration, alternating (median kept)")
    ap.add_argument("--task", default="ivif")
    ap.add_argument("--tiny-pairs", type=int, default=40, help="pairs of 32×32 for Ray's own cost (0: skip)")
    args = ap.parse_args(argv)
    import ray
    import torch

    from refusion_core.cluster.ray_fuse import _cpu_count

    cores, sizes = _cpu_count(), [int(w) for w in args.workers.split(",")]
    print(f"{args.pairs} pairs of {args.size}×{args.size} (grey + RGB, 8-bit), task {args.task} default weights; "
          f"{cores} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), ray {ray.__version__}, "
          f"{_cpu_name()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        root = Path(tmp)
        pairs = write_pairs(root, args.pairs, args.size)
        start = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        print(f"ray.init (a local cluster of {cores} CPUs): {time.perf_counter() - start:.1f} s", flush=True)
        results = defaultdict(list)
        for rep in range(args.repeat):
            results["single-process"].append(single_process(pairs, root / f"single{rep}", args.task))
            for w in sizes:
                results[w].append(on_ray(pairs, root / f"ray{w}_{rep}", args.task, w))
        check = resume_check(pairs, root / f"ray{sizes[-1]}_0", args.task)
        tiny = None
        if args.tiny_pairs > 1:
            small = write_pairs(root / "tiny", args.tiny_pairs, 32)
            tiny = (single_process(small, root / "tiny-single", args.task),
                    on_ray(small, root / "tiny-ray", args.task, 1))
        ray.shutdown()
    print_tables(results, sizes, args.pairs, check)
    if tiny is not None:
        print_cost(*tiny, args.tiny_pairs)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min) on {cores} cores")
    return 0


def print_tables(results: dict, sizes: list[int], n: int, check: dict) -> None:
    print(f"\n{'configuration':<26} {'startup s':>9} {'steady pair/s':>13} {'overall pair/s':>14} "
          f"{'ms per pair':>12}")
    print(row("single-process", results["single-process"], n))
    for w in sizes:
        pool = results[w][0]["pool"]
        print(row(f"ray {w} worker{'s' * (w > 1)} ({pool.threads} thr each)", results[w], n))
    print(f"resume check of {check['pairs']} finished pairs (driver, no model): {check['seconds']:.2f} s "
          f"({check['pairs'] / check['seconds']:.0f} pairs/s)")
    steps = results["single-process"][0]["steps"]
    total = statistics.mean(r.seconds for r in results["single-process"][0]["records"]) * n
    print(f"\nwhere a pair's time goes (single-process, mean over {n} pairs):")
    for step in STEPS:
        print(f"  {step:<14} {steps.get(step, 0.0) / n * 1000:>8.1f} ms  {steps.get(step, 0.0) / total:>6.1%}")
    rest = total - sum(steps.values())
    print(f"  {'the rest':<14} {rest / n * 1000:>8.1f} ms  {rest / total:>6.1%}  (resume check, sidecar record, depth)")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return "cpu"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
