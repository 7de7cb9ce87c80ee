"""Dark inputs: how each task's default, extra weights files, the authors' released checkpoint (when ../shared is
beside the checkout) and the Laplacian pyramid respond to dark pairs (docs/BENCHMARKS.md, "Dark inputs").

    python benchmarks/bench_dark.py [--tasks ivif mif mfif meif] [--weights ivif=PATH ...]

Per method it prints the dark lift of the task's sample pair (refusion_core.metrics.response: the pair × 0.1
fused, minus a tenth of the fused pair, in levels of 255), the fused value of a black 128² pair, and the mean fused
value where both sources of the sample pair are below 0.1. The sample pairs ship in resources/samples; no
benchmark data is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from refusion_core import TASKS  # noqa: E402
from refusion_core.fusing.baselines import laplacian_pyramid  # noqa: E402
from refusion_core.fusing.fuser import Fuser  # noqa: E402
from refusion_core.fusing.stack import as_luminance_fuser  # noqa: E402
from refusion_core.metrics.response import DARK_FACTOR, dark_lift  # noqa: E402
from refusion_core.models.checkpoint import load_model  # noqa: E402
from refusion_core.paths import sample_pair_paths, shared_dir  # noqa: E402
from refusion_core.training.data import load_luminance_pair  # noqa: E402


def figures(fuse, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    black = np.zeros((128, 128), np.float32)
    dark = np.maximum(a, b) < 0.1
    region = float(np.asarray(fuse(a, b))[dark].mean()) if dark.any() else float("nan")
    return dark_lift(fuse, a, b), float(np.mean(fuse(black, black))), region


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--weights", nargs="*", default=[], metavar="TASK=PATH", help="more weights files to measure")
    args = ap.parse_args()
    extra = [w.split("=", 1) for w in args.weights]
    shared = shared_dir()
    print(f"| task | method | dark lift ×{DARK_FACTOR:g} (levels) | black pair | sample's dark region |")
    print("|---|---|---|---|---|")
    for task in args.tasks:
        a, b = load_luminance_pair(*sample_pair_paths(task))
        methods = [("ours (default)", None)] + [(Path(p).name, p) for t, p in extra if t == task]
        released = shared / "anchors" / "refusion_official" / f"ReFusion_{task.upper()}.pth" if shared else None
        if released is not None and released.exists():
            methods.append(("released (authors)", released))
        rows = [(name, as_luminance_fuser(Fuser(load_model(path, task), "cpu"))) for name, path in methods]
        for name, fuse in rows + [("laplacian", laplacian_pyramid)]:
            lift, black, region = figures(fuse, a, b)
            print(f"| {task} | {name} | {lift:.1f} | {black:.3f} | {region:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
