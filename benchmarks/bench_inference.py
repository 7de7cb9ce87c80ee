"""Speed and peak memory of F: the plain eager module (reference) against the fast path, same weights.

Every measurement runs in its own child process, so that its peak resident memory (ru_maxrss) is its
own; reference and fast runs alternate, size by size, so that a shared machine's load hits both alike.
Prints pixels/s, peak RSS (whole process, and above the process's footprint before the run), the ratio
fast/reference, and how far the fast path is from the reference (max and mean |difference| over the
whole image). The reference is skipped where its memory (extrapolated from the last size it ran at)
would not fit in the memory available; the table says how much it would need.

    python benchmarks/bench_inference.py                      # 0.25, 1, 4, 24 MP
    python benchmarks/bench_inference.py --sizes 0.25,1 --repeat 3
    python benchmarks/bench_inference.py --sizes 24 --fuser   # + Fuser.fuse on a 6000×4000 RGB pair
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RELEASED = REPO.parent / "shared" / "anchors" / "refusion_official" / "ReFusion_IVIF.pth"
SIZES = {"0.25": (512, 512), "1": (1024, 1024), "4": (2048, 2048), "24": (4000, 6000)}


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mem_available() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) * 1024
    return 0


def make_pair(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The bundled IVIF sample pair resized to (h, w): infrared grey, visible RGB, uint8."""
    import cv2

    from refusion_core.io.images import read_image

    ir = read_image(REPO / "resources" / "samples" / "ivif_ir.png")
    vis = read_image(REPO / "resources" / "samples" / "ivif_vis.png")
    return (cv2.resize(ir, (w, h), interpolation=cv2.INTER_CUBIC),
            cv2.resize(vis, (w, h), interpolation=cv2.INTER_CUBIC))


def load_bundle():
    """The authors' released IVIF F where ../shared has it (else a seeded random F), a random P."""
    from refusion_core.models.checkpoint import load_model, new_bundle

    bundle = new_bundle("ivif", seed=0)
    if RELEASED.is_file():
        bundle.fusion = load_model(RELEASED).fusion
    return bundle


def child(args) -> dict:
    """One measurement; prints a JSON line."""
    import torch

    from refusion_core.io.images import to_float
    from refusion_core.fusing.colour import luminance
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.fusing.tiling import TilePlan

    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    budget = {"auto": None, "checkpoint": 1 << 62, "recompute": 0}[args.schedule]
    opts = {} if budget is None else {"stream_budget": budget}
    if args.plan:
        opts["plan"] = TilePlan(*(int(v) for v in args.plan.split(",")))
    fuser = Fuser(load_bundle(), "cpu", engine=args.engine, **opts)
    a, b = make_pair(h, w)
    small = [np.ascontiguousarray(x[:64, :64]) for x in (a, b)]
    fuser.fuse(*small)  # warm-up: kernels, thread pools
    base = rss_bytes()
    t0 = time.perf_counter()
    if args.fuse_rgb:
        res = fuser.fuse(a, b, maps=True)
        out = res.fused_y
    else:
        out, _ = fuser.fuse_luminance(to_float(a), luminance(b), maps=False)
    secs = time.perf_counter() - t0
    if args.out:
        np.save(args.out, out)
    return {"seconds": secs, "peak_rss": peak_rss_bytes(), "base_rss": base, "pixels": h * w,
            "schedule": fuser.schedule(h, w) if args.engine == "fast" else "whole image",
            "threads": torch.get_num_threads(), "released_weights": RELEASED.is_file()}


def run_child(engine: str, size: tuple[int, int], threads: int, out: Path | None = None,
              schedule: str = "auto", fuse_rgb: bool = False, plan: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--size", f"{size[0]}x{size[1]}",
           "--threads", str(threads), "--schedule", schedule]
    cmd += ["--out", str(out)] if out else []
    cmd += ["--fuse-rgb"] if fuse_rgb else []
    cmd += ["--plan", plan] if plan else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1], "rc": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gb(n: float) -> str:
    return f"{n / 2 ** 30:.2f}"


def row(label: str, r: dict) -> str:
    if "error" in r:
        return f"{label:<26} failed: {r['error']}"
    return (f"{label:<26} {r['seconds']:9.2f} {r['pixels'] / r['seconds'] / 1e3:10.1f} "
            f"{gb(r['peak_rss']):>9} {gb(r['peak_rss'] - r['base_rss']):>9}  {r['schedule']}")


def bench_size(name: str, args, tmp: Path, ref_bpp: list[float]) -> None:
    size = SIZES[name]
    px = size[0] * size[1]
    print(f"\n== {name} MP ({size[0]}×{size[1]}), {args.threads} threads ==")
    print(f"{'engine':<26} {'seconds':>9} {'kpx/s':>10} {'peak GB':>9} {'+run GB':>9}  schedule")
    need = ref_bpp[-1] * px * 1.15 if ref_bpp else 0
    run_ref = not args.no_ref and need < 0.8 * mem_available()
    if not run_ref and not args.no_ref:
        print(f"{'reference':<26} not feasible: needs about {gb(need)} GB above the process "
              f"({gb(mem_available())} GB available)")
    configs = [("reference", "reference", "auto")] if run_ref else []
    configs.append(("fast", "fast", "auto"))
    if name == "4" or args.both_schedules:
        configs.append(("fast (recompute)", "fast", "recompute"))
    configs += [(f"fast plan {p}", "fast", "auto", p) for p in args.extra_plans.split() if px <= 1_100_000]
    repeat = args.repeat if px <= 1_100_000 else 1
    results = {c[0]: [] for c in configs}
    for _ in range(repeat):  # interleaved: ref, fast, ref, fast ...
        for label, engine, schedule, *plan in configs:
            out = tmp / f"{name}_{label.replace(' ', '_')}.npy"
            r = run_child(engine, size, args.threads, out, schedule, plan=plan[0] if plan else args.plan)
            results[label].append(r)
            print(row(label, r), flush=True)
    med = {k: sorted(v, key=lambda r: r.get("seconds", 1e99))[len(v) // 2] for k, v in results.items()}
    if run_ref and "error" not in med["reference"]:
        ref = med["reference"]
        ref_bpp.append((ref["peak_rss"] - ref["base_rss"]) / px)
        ref_img = np.load(tmp / f"{name}_reference.npy")
        for label in [c[0] for c in configs[1:]]:
            f = med[label]
            diff = np.abs(np.load(tmp / f"{name}_{label.replace(' ', '_')}.npy") - ref_img)
            print(f"{label} / reference (medians): speed ×{ref['seconds'] / f['seconds']:.2f}, "
                  f"memory above process ×{(f['peak_rss'] - f['base_rss']) / (ref['peak_rss'] - ref['base_rss']):.3f}; "
                  f"|fast − reference| max {diff.max():.2e} mean {diff.mean():.2e}")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                for lab in ("reference", label):
                    f_name = f"{name}_{lab.replace(' ', '_')}.npy"
                    np.save(args.save / f_name, np.load(tmp / f_name))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="0.25,1,4,24", help="comma-separated, of " + ", ".join(SIZES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine at sizes up to 1 MP (median kept)")
    ap.add_argument("--no-ref", action="store_true", help="fast path only")
    ap.add_argument("--both-schedules", action="store_true", help="also force the recompute schedule")
    ap.add_argument("--fuser", action="store_true", help="also Fuser.fuse (RGB, with maps) at 6000×4000")
    ap.add_argument("--save", type=Path, help="keep the outputs (.npy) here")
    ap.add_argument("--plan", default="", help="rows,cols,workers of the fast path's tiles")
    ap.add_argument("--extra-plans", default="", help="more fast configurations (rows,cols,workers …), ≤ 1 MP")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", default="fast", help=argparse.SUPPRESS)
    ap.add_argument("--size", default="", help=argparse.SUPPRESS)
    ap.add_argument("--schedule", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    ap.add_argument("--fuse-rgb", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    import platform

    import torch

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{gb(mem_available())} GB available; F weights: "
          f"{'released IVIF' if RELEASED.is_file() else 'random (seed 0)'}")
    ref_bpp: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes.split(","):
            bench_size(name, args, Path(tmp), ref_bpp)
    if args.fuser:
        print("\n== Fuser.fuse, 6000×4000 grey + RGB uint8 pair, with P's maps ==")
        print(row("fast (Fuser.fuse)", run_child("fast", (4000, 6000), args.threads, fuse_rgb=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
