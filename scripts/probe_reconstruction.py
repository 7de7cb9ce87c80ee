"""Which fused image does R reconstruct the sources from best? (issue 13, point 1: why the multi-focus map stops
near 0.7.)

P is trained to lower the reconstruction loss Lr (per-pixel max over the sources, PAPER.md Eq. 4–6) of R' from
F''s fusion. So the fused image P asks for, at the end, is the one from which a trained R reconstructs the two
sources best. This probe measures that directly, without F and P: for each fixed fusion rule (source A, the
average of A and B, the Laplacian pyramid's max-detail fusion, the sharp composite where it is known, blends of
them), a fresh R is trained alone on If = rule(A, B) (Adam, the same crops and initial weights for every rule),
then Lr is measured on crops of pairs R never saw. The rule with the lowest Lr is the one the meta-objective
rewards at convergence.

    python scripts/probe_reconstruction.py --data synthetic --steps 400           # scikit-image crops, one half
                                                                                 # blurred in each source
    python scripts/probe_reconstruction.py --data mfif --steps 600 --dim 32 --blocks 2
                                                                  # the multi-focus train split (../shared),
                                                                  # R with more capacity

--data ivif|mif|mfif|meif reads only that task's train split (two thirds of its pairs train R, one third
measures it); the test split is never read. Rules: A, avg (½A + ½B), lap (the Laplacian pyramid, the sharpest
classical fusion) and blend-0.7 = 0.7 · best + 0.3 · avg, where best is lap on real data; on synthetic data also
sharp (the unblurred image: the ideal multi-focus fusion, and best there) and blend-0.85; on real data also B, and
for meif mertens (exposure fusion). Beside each trained R's loss the script prints what R = identity
(Îa = Îb = If) gets: an R that had learnt to copy its input would get that, so a trained R above it (as r-1 is on
the average after 600 steps) has not yet learnt all it could.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refusion_core.fusing.baselines import laplacian_pyramid, mertens  # noqa: E402
from refusion_core.models import ReconstructionNet  # noqa: E402
from refusion_core.paths import shared_dir  # noqa: E402
from refusion_core.training.data import BENCHMARK_SETS, load_luminance_pair, pairs_from_manifest  # noqa: E402
from refusion_core.training.losses import reconstruction_loss  # noqa: E402
from refusion_core.training.settings import TrainSettings  # noqa: E402


def rules_for(a: np.ndarray, b: np.ndarray, sharp: np.ndarray | None, task: str = "mfif") -> dict[str, np.ndarray]:
    """The fixed fusion rules compared, each (H, W) float32 in [0, 1]: with ``sharp`` (synthetic focus pairs) A,
    avg, lap, blend-0.7, blend-0.85 and sharp; on real pairs A, B, avg, lap, blend-0.7 and, for ``meif``,
    mertens (exposure fusion)."""
    avg = 0.5 * (a + b)
    lap = laplacian_pyramid(a, b)
    if sharp is not None:
        out = {"A": a, "avg": avg, "lap": lap, "blend-0.7": 0.7 * sharp + 0.3 * avg,
               "blend-0.85": 0.85 * sharp + 0.15 * avg, "sharp": sharp}
    else:
        out = {"A": a, "B": b, "avg": avg, "lap": lap, "blend-0.7": 0.7 * lap + 0.3 * avg}
        if task == "meif":
            out["mertens"] = mertens(a, b)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


class RealCrops:
    """Crops at the same positions of A, B and every rule's fusion of whole train pairs."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], crop: int, task: str):
        self.items = []
        for a, b in pairs:
            if min(a.shape) >= crop:
                self.items.append((a, b, rules_for(a, b, None, task)))
        self.crop = crop

    def batch(self, rng: np.random.Generator, size: int):
        c, out = self.crop, []
        for _ in range(size):
            a, b, rules = self.items[int(rng.integers(len(self.items)))]
            y, x = int(rng.integers(0, a.shape[0] - c + 1)), int(rng.integers(0, a.shape[1] - c + 1))
            out.append((a[y:y + c, x:x + c], b[y:y + c, x:x + c], {k: v[y:y + c, x:x + c] for k, v in rules.items()}))
        return out


class SyntheticCrops:
    """meta_signal's synthetic focus pairs (one half of each crop blurred in A, the other in B) with the sharp
    image as the ideal fusion."""

    def __init__(self, images: list[np.ndarray], crop: int, sigma: float = 3.0):
        from refusion_core.training.meta_signal import SyntheticSource
        self.source, self.crop = SyntheticSource("mfif", images, crop, seed=0, sigma=sigma), crop

    def batch(self, rng: np.random.Generator, size: int):
        self.source.rng = rng
        out = []
        for _ in range(size):
            img, a, b = self.source.focus_sample()
            out.append((a, b, rules_for(a.astype(np.float32), b.astype(np.float32), img)))
        return out


def stack(batch, rule: str):
    a = torch.from_numpy(np.stack([x[0] for x in batch]))[:, None].float()
    b = torch.from_numpy(np.stack([x[1] for x in batch]))[:, None].float()
    f = torch.from_numpy(np.stack([x[2][rule] for x in batch]))[:, None].float()
    return a, b, f


def identity_loss(batch, rule: str) -> float:
    """Lr with Îa = Îb = If: what an R that copies its input gets (a trained R could do at least as well).
    Under the per-pixel max this is smallest for the average of the sources (for a pair that differs only in
    blur, exactly a quarter of the sharp composite's intensity term): the minimax answer when R cannot tell
    which source each detail came from."""
    a, b, f = stack(batch, rule)
    return reconstruction_loss(f, f, a, b)[0].item()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=("synthetic", *BENCHMARK_SETS), default="synthetic",
                    help="synthetic focus crops, or a task's benchmark set (its train split)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-crops", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rules", nargs="+", help="default: all")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.data != "synthetic":
        shared = shared_dir()
        if shared is None:
            print(f"../shared is not here: --data {args.data} needs its datasets", file=sys.stderr)
            return 2
        name = BENCHMARK_SETS[args.data]
        pairs = pairs_from_manifest(shared / "datasets" / "manifest.json", name, "train")
        images = [load_luminance_pair(pa, pb, max_side=TrainSettings().max_side) for pa, pb in pairs]  # as training
        cut = (2 * len(images)) // 3
        train, held = RealCrops(images[:cut], args.crop, args.data), RealCrops(images[cut:], args.crop, args.data)
        what = f"{name} train split: R trained on {len(train.items)} pairs, measured on {len(held.items)} others"
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from diagnose_meta import sample_images
        images = sample_images()
        half = len(images) // 2
        train, held = SyntheticCrops(images[:half], args.crop), SyntheticCrops(images[half:], args.crop)
        what = f"synthetic focus crops: R trained on {half} images, measured on {len(images) - half} others"

    eval_batch = held.batch(np.random.default_rng(10_000 + args.seed), args.eval_crops)
    rules = args.rules or list(eval_batch[0][2])
    print(f"{what}; R dim {args.dim}, {args.blocks} block(s); {args.steps} steps of {args.batch} × {args.crop}²,"
          f" Adam {args.lr}, seed {args.seed}", flush=True)
    results, identity = {}, {}
    for rule in rules:
        torch.manual_seed(args.seed)
        r = ReconstructionNet(dim=args.dim, blocks=args.blocks)
        opt = torch.optim.Adam(r.parameters(), args.lr)
        rng, t0 = np.random.default_rng(args.seed), time.perf_counter()
        for step in range(args.steps):
            a, b, f = stack(train.batch(rng, args.batch), rule)
            ra, rb = r(f)
            loss, _ = reconstruction_loss(ra, rb, a, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            losses = []
            for i in range(0, len(eval_batch), 16):
                a, b, f = stack(eval_batch[i:i + 16], rule)
                ra, rb = r(f)
                losses.append(reconstruction_loss(ra, rb, a, b)[0].item() * len(a))
        results[rule] = sum(losses) / len(eval_batch)
        identity[rule] = identity_loss(eval_batch, rule)
        print(f"  {rule:<11} Lr on unseen crops {results[rule]:.5f}   (R = identity: {identity[rule]:.5f})   "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    order = sorted(results, key=results.get)
    print("best to worst: " + " < ".join(f"{k} {results[k]:.5f}" for k in order))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "Lr": results,
                                          "Lr_identity": identity}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
