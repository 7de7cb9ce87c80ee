"""A crop across a strip border and a tile border: reference, fast path (large-image schedule), |difference|,
and |difference| between the fast path's two schedules (different tile borders: any seam would show).

Reads the 4 MP outputs that ``bench_inference.py --save DIR`` keeps (or computes a smaller pair itself
with ``--size``) and writes docs/images/tile_border_crop.png: four panels, each magnified 3×, with ticks
in the margins at the strip border (a row) and the tile border (a column); the difference panels map
|fast − reference| from 0 to ``--scale`` and |recompute − checkpoint| from 0 to ``--scale2`` onto a colour
scale. Both are float32 round-off (the reference sums its attention statistics in two levels; see check_accuracy.py).

    python benchmarks/bench_inference.py --sizes 4 --save /tmp/bench_out
    python benchmarks/make_border_crop.py --from /tmp/bench_out
    python benchmarks/make_border_crop.py --size 512      # without the benchmark's files
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "images" / "tile_border_crop.png"
ZOOM, HALF = 3, 48  # magnification; half the crop's side in pixels


def compute(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_inference import load_bundle, make_pair

    from refusion_core.io.images import to_float
    from refusion_core.fusing.colour import luminance
    from refusion_core.fusing.fuser import Fuser

    a, b = make_pair(size, size)
    ya, yb = to_float(a), luminance(b)
    ref, _ = Fuser(load_bundle(), "cpu", engine="reference").fuse_luminance(ya, yb, maps=False)
    fast, _ = Fuser(load_bundle(), "cpu", stream_budget=0).fuse_luminance(ya, yb, maps=False)
    other, _ = Fuser(load_bundle(), "cpu").fuse_luminance(ya, yb, maps=False)
    return ref, fast, other


def panel(img: np.ndarray, label: str) -> np.ndarray:
    big = cv2.resize(img, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    pad = cv2.copyMakeBorder(big, 28, 10, 10, 10, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    cv2.putText(pad, label, (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    mid = 10 + HALF * ZOOM  # the borders sit between crop pixels HALF - 1 and HALF
    for y, x in ((28 + HALF * ZOOM, None), (None, mid)):
        if y is not None:  # row ticks in the left and right margins
            cv2.line(pad, (0, y), (8, y), (0, 0, 255), 2)
            cv2.line(pad, (pad.shape[1] - 9, y), (pad.shape[1] - 1, y), (0, 0, 255), 2)
        else:  # column ticks in the bottom margin
            cv2.line(pad, (x, pad.shape[0] - 9), (x, pad.shape[0] - 1), (0, 0, 255), 2)
    return pad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", type=Path, help="folder of bench_inference.py --save")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--row", type=int, default=1024, help="a strip border (a multiple of the plan's rows)")
    ap.add_argument("--col", type=int, default=1024, help="a tile border (a multiple of the plan's cols)")
    ap.add_argument("--scale", type=float, default=1e-6, help="|fast − reference| at the top of the colours")
    ap.add_argument("--scale2", type=float, default=1e-6, help="the same for |recompute − checkpoint|")
    args = ap.parse_args(argv)
    if args.src:
        ref = np.load(args.src / "4_reference.npy")
        fast = np.load(args.src / "4_fast_(recompute).npy")
        other = np.load(args.src / "4_fast.npy")  # the checkpoint schedule (default_plan: 64×128 tiles)
    else:
        ref, fast, other = compute(args.size)
        args.row, args.col = min(args.row, args.size // 2), min(args.col, args.size // 2)
    rows, cols = slice(args.row - HALF, args.row + HALF), slice(args.col - HALF, args.col + HALF)
    to8 = lambda x: cv2.cvtColor(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)  # noqa: E731
    diff, seam = np.abs(fast - ref), np.abs(fast - other)
    heat = lambda d, top: cv2.applyColorMap(  # noqa: E731
        np.round(np.clip(d[rows, cols] / top, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    strip = np.hstack([panel(to8(ref[rows, cols]), "reference (whole image)"),
                       panel(to8(fast[rows, cols]), "fast, recompute schedule"),
                       panel(heat(diff, args.scale), f"|fast - reference|, 0 to {args.scale:.0e}"),
                       panel(heat(seam, args.scale2), f"|recompute - checkpoint|, 0 to {args.scale2:.0e}")])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT), strip)
    crop = diff[rows, cols]
    print(f"wrote {OUT.relative_to(REPO)}; crop rows {rows.start}-{rows.stop}, cols {cols.start}-{cols.stop}: "
          f"|diff| max {crop.max():.2e} mean {crop.mean():.2e}; whole image max {diff.max():.2e} "
          f"mean {diff.mean():.2e}; rows {args.row - 1}/{args.row}: mean {diff[args.row - 1].mean():.2e}/"
          f"{diff[args.row].mean():.2e} vs all rows {diff.mean():.2e}; |recompute − checkpoint| max "
          f"{seam.max():.2e} mean {seam.mean():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
