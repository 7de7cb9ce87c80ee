"""Steps per second of a training step on one process against several gloo processes (torch.distributed).

Each configuration runs in fresh processes, started as torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT in the environment; one process runs without a process group, as ``refusion train``
does without ``--distributed``). Every rank takes the trainer's step function (:func:`fuse_recon_step`, or
:func:`meta_step` with ``--stage meta``) on its own random batches of the default networks, gradients averaged
across ranks as in training; after ``--warmup`` steps, ``--steps`` steps are timed between two barriers; the
configurations alternate over ``--repeat`` rounds and the median is reported.
Prints, per configuration (1 process × 1 thread, 1 process × all cores, one 1-thread gloo rank per core, and as
a control as many independent 1-thread processes, no process group, which shows what the machine's cores give
two processes at all): steps/s, crops/s (world size × batch × steps/s, the effective throughput) and crops/s
relative to the faster single process.

    python benchmarks/bench_distributed.py                       # plain step, crop 64, batch 2
    python benchmarks/bench_distributed.py --stage meta --steps 10

On a CPU machine the ranks share the cores: two processes of one thread each against one process of two
threads measures how well gloo's all-reduce and two independent processes use them. On GPUs (NCCL, one
process per GPU) each rank has its own device and the all-reduce of these few hundred thousand parameters
is far below a step's time, so crops/s grow nearly with the number of GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(args) -> None:
    import torch

    from refusion_core.models.checkpoint import new_bundle
    from refusion_core.models.reconstruction import ReconstructionNet
    from refusion_core.training import distributed as dist
    from refusion_core.training.meta import Batch, fuse_recon_step, meta_gradient_hvp, meta_step

    torch.set_num_threads(args.threads)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.setup("cpu", timeout_s=300)
    bundle = new_bundle("ivif", seed=0)
    f, r, p = bundle.fusion, bundle.reconstruction or ReconstructionNet(), bundle.proposal
    for m in (f, r, p):
        m.to(memory_format=torch.channels_last).train()
    opt_f, opt_r = torch.optim.Adam(f.parameters(), 1e-4), torch.optim.Adam(r.parameters(), 1e-4)
    opt_p = torch.optim.Adam(p.parameters(), 1e-4, eps=1e-12)
    g = torch.Generator().manual_seed(dist.rank())
    mk = lambda: Batch(torch.rand(args.batch, 1, args.crop, args.crop, generator=g),
                       torch.rand(args.batch, 1, args.crop, args.crop, generator=g))

    def step():
        if args.stage == "meta":
            meta_step(f, r, p, opt_p, mk(), mk(), 1e-2, gradient=meta_gradient_hvp)
        else:
            fuse_recon_step(f, r, p, opt_f, opt_r, mk())

    for _ in range(args.warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    dist.barrier()
    seconds = time.perf_counter() - t0
    if dist.is_main():
        Path(args.worker).write_text(json.dumps({"seconds": seconds}))
    dist.teardown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(args, world: int, threads: int, together: bool = True) -> float:
    """Seconds per step of ``world`` processes of ``threads`` threads each: ranks of one gloo group, or (not
    ``together``) as many independent single processes at once (the slower one's time: the machine's ceiling)."""
    port, folder = free_port(), Path(tempfile.mkdtemp())
    procs = []
    for r in range(world):
        rank, size = (r, world) if together else (0, 1)
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": str(threads)}
        cmd = [sys.executable, __file__, "--worker", str(folder / f"result{r}.json"), "--threads", str(threads),
               "--crop", str(args.crop), "--batch", str(args.batch), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--stage", args.stage]
        procs.append(subprocess.Popen(cmd, env=env))
    for p in procs:
        if p.wait(timeout=1800) != 0:
            raise SystemExit(f"a rank failed (exit {p.returncode})")
    return max(json.loads(f.read_text())["seconds"] for f in folder.glob("result*.json")) / args.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=("fuse", "meta"), default="fuse", help="plain step (fuse) or meta step")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2, help="crops per rank")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="rounds over the configurations (median reported)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    cores = os.cpu_count() or 1
    n = max(cores, 2)
    configs = [(1, 1, True), (1, n, True), (n, 1, True), (n, 1, False)]
    print(f"{args.stage} step, crop {args.crop}, batch {args.batch} per rank, {args.steps} steps timed, median of "
          f"{args.repeat} rounds, {cores} CPU cores, gloo")
    times = {c: [] for c in configs}
    for _ in range(args.repeat):  # configurations alternate, so that a shared machine's load hits all alike
        for c in configs:
            times[c].append(measure(args, *c))
    rows = [(*c, c[0] * args.batch / statistics.median(times[c])) for c in configs]
    base = max(crops for world, _, _, crops in rows if world == 1)  # the faster single process
    print(f"{'processes x threads':>34} {'steps/s':>9} {'crops/s':>9} {'vs 1 process':>13}")
    for world, threads, together, crops in rows:
        what = f"{world} x {threads}" + ("" if world == 1 else " gloo ranks" if together else " independent")
        print(f"{what:>34} {crops / (world * args.batch):>9.2f} {crops:>9.2f} {crops / base:>12.2f}x")


if __name__ == "__main__":
    main()
