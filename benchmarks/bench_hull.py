"""Inside the sources' hull: how much of each method's paper metrics comes from leaving [min(A, B), max(A, B)],
which the paper's fusion loss never asks for (refusion_core.metrics.hull; docs/BENCHMARKS.md, "Inside the
sources' hull").

    python benchmarks/bench_hull.py [--tasks mif] [--split holdout|test] [--scd-steps 1500]

Per method (the task's default, the authors' released checkpoint, the Laplacian pyramid, the per-pixel maximum) it
prints the share of pixels more than 2 levels outside the hull, the paper metrics of its output as it is, and of
its output clipped to the hull; then an upper bound of EN over all images inside the hull (``en_in_hull_bound``)
and the highest SCD found among them (``scd_in_hull``).
Luminance only (Y in [0, 1] as the trainer reads it, times 255), no colour, so the figures differ slightly from
bench_quality.py's, which measures saved colour files. ``holdout`` is the campaign's hold-out of the train split
(campaign/<task>/plan.json), ``test`` the test split. Needs ../shared beside the checkout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from refusion_core import TASKS  # noqa: E402
from refusion_core.fusing.baselines import laplacian_pyramid  # noqa: E402
from refusion_core.fusing.fuser import Fuser  # noqa: E402
from refusion_core.fusing.stack import as_luminance_fuser  # noqa: E402
from refusion_core.metrics import PAPER_METRICS, compute_metrics  # noqa: E402
from refusion_core.metrics.hull import clip_to_hull, en_in_hull_bound, outside_hull, scd_in_hull  # noqa: E402
from refusion_core.models.checkpoint import load_model  # noqa: E402
from refusion_core.paths import shared_dir  # noqa: E402
from refusion_core.training.data import (  # noqa: E402
    BENCHMARK_SETS,
    holdout,
    load_luminance_pair,
    pairs_from_manifest,
)


def pairs_of(shared: Path, task: str, split: str) -> list:
    manifest = shared / "datasets" / "manifest.json"
    if split == "test":
        return pairs_from_manifest(manifest, BENCHMARK_SETS[task], "test")
    n = json.loads((REPO / "campaign" / task / "plan.json").read_text())["holdout"]
    return holdout(pairs_from_manifest(manifest, BENCHMARK_SETS[task], "train"), n)[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["mif"], choices=TASKS)
    ap.add_argument("--split", choices=("holdout", "test"), default="holdout")
    ap.add_argument("--scd-steps", type=int, default=1500, help="gradient-ascent steps of the SCD search per start")
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        print("bench_hull: ../shared (the data sets) is not beside the checkout", file=sys.stderr)
        return 2
    for task in args.tasks:
        names = PAPER_METRICS[task]
        methods = [("ours (default)", as_luminance_fuser(Fuser(load_model(None, task), "cpu")))]
        released = shared / "anchors" / "refusion_official" / f"ReFusion_{task.upper()}.pth"
        if released.exists():
            methods.append(("released (authors)", as_luminance_fuser(Fuser(load_model(released, task), "cpu"))))
        methods += [("laplacian", laplacian_pyramid), ("per-pixel max", np.maximum)]
        rows = {name: {"outside": [], "as is": [], "in hull": []} for name, _ in methods}
        bound, en_bound = [], []
        pairs = pairs_of(shared, task, args.split)
        for i, (pa, pb) in enumerate(pairs):
            a, b = load_luminance_pair(pa, pb)
            a255, b255 = 255.0 * a, 255.0 * b
            for name, fuse in methods:
                f = 255.0 * np.clip(np.asarray(fuse(a, b), np.float64), 0.0, 1.0)
                rows[name]["outside"].append(outside_hull(a255, b255, f))
                rows[name]["as is"].append(compute_metrics(a255, b255, f, names))
                rows[name]["in hull"].append(compute_metrics(a255, b255, clip_to_hull(a255, b255, f), names))
            bound.append(scd_in_hull(a255, b255, steps=args.scd_steps)[0])
            en_bound.append(en_in_hull_bound(a255, b255))
            print(f"\r{task}: {i + 1}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        print(f"\n{task}, {args.split} ({len(pairs)} pairs), luminance:\n")
        print("| method | outside the hull | output | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for name, r in rows.items():
            for kind in ("as is", "in hull"):
                means = [np.mean([m[n] for m in r[kind]]) for n in names]
                share = f"{100 * np.mean(r['outside']):.1f} %" if kind == "as is" else ""
                print(f"| {name} | {share} | {kind} | " + " | ".join(f"{v:.4g}" for v in means) + " |")
        print(f"\nEN of any image inside the hull is at most {np.mean(en_bound):.4f} on average (en_in_hull_bound)")
        print(f"Highest SCD found inside the hull (scd_in_hull, {args.scd_steps} steps × 3 starts): "
              f"{np.mean(bound):.4f} (per pair {min(bound):.3f}..{max(bound):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
