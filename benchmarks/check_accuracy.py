"""Which of the two float32 results is nearer the exact one? F in float64 as the yardstick.

The reference sums q·kᵀ and the squared norms of the global attention in float32 in two levels (blocks
of 4096 pixels, then over the blocks; refusion_core/models/blocks.py); the fast path sums per tile in
float32 and across tiles in float64. Before the two-level sums the reference drifted by 6e-4 at 1 MP;
this prints each one's distance to F run in float64 (both now within ~1e-6 at 1 MP).

    python benchmarks/check_accuracy.py --sizes 512,1024
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_inference import load_bundle, make_pair  # noqa: E402

from refusion_core.fusing.colour import luminance  # noqa: E402
from refusion_core.fusing.fuser import Fuser  # noqa: E402
from refusion_core.io.images import to_float  # noqa: E402


def stats(a: np.ndarray, b: np.ndarray) -> str:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return f"max {d.max():.2e} mean {d.mean():.2e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024", help="square sides")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for n in (int(s) for s in args.sizes.split(",")):
        a, b = make_pair(n, n)
        ya, yb = to_float(a), luminance(b)
        bundle = load_bundle()
        fast, _ = Fuser(bundle, "cpu").fuse_luminance(ya, yb, maps=False)
        ref32, _ = Fuser(bundle, "cpu", engine="reference").fuse_luminance(ya, yb, maps=False)
        x = torch.from_numpy(np.stack([ya, yb])[None]).double()
        with torch.inference_mode():
            ref64 = bundle.fusion.double()(x)[0, 0].numpy()
        print(f"{n}×{n}: |reference32 − float64| {stats(ref32, ref64)}; |fast − float64| {stats(fast, ref64)}; "
              f"|fast − reference32| {stats(fast, ref32)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
