"""Training throughput on the CPU: the plain step (fuse_recon_step), the meta step with the second-order
meta-gradient (meta_gradient, as the trainer runs it) and with meta_gradient_hvp (the same value).

Steps of the three kinds alternate in rounds, so that a shared machine's load hits all alike; steps/s is
the median over rounds. Also prints how far the two meta-gradients are apart on the first batch (float32).

    python benchmarks/bench_train.py                     # 128, 96 and 64 px crops, batch 4, 2 threads
    python benchmarks/bench_train.py --crops 64 --rounds 3 --steps 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from refusion_core.meta import Batch, fuse_recon_step, meta_gradient, meta_gradient_hvp, meta_step
from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet
from refusion_core.settings import TrainSettings


def make_batches(crop: int, batch: int, n: int, seed: int = 0) -> list[Batch]:
    """Smooth random textures (B, 1, crop, crop) in [0, 1], n batches."""
    g = torch.Generator().manual_seed(seed)

    def texture():
        x = torch.rand(batch, 1, crop // 4, crop // 4, generator=g)
        return torch.nn.functional.interpolate(x, size=(crop, crop), mode="bilinear", align_corners=False)

    return [Batch(texture(), texture()) for _ in range(n)]


def bench_crop(crop: int, args) -> None:
    s = TrainSettings()
    torch.manual_seed(0)
    f, r, p = FusionNet(), ReconstructionNet(), LossProposalNet(zero_init=False)
    opt_f, opt_r, opt_p = (torch.optim.Adam(m.parameters(), lr=1e-4) for m in (f, r, p))
    batches = make_batches(crop, args.batch, 3)
    train, test = batches[0], batches[1]
    kinds = {
        "plain (fuse_recon_step)": lambda: fuse_recon_step(f, r, p, opt_f, opt_r, batches[2]),
        "meta (meta_gradient)": lambda: meta_step(f, r, p, opt_p, train, test, s.inner_lr),
        "meta (meta_gradient_hvp)": lambda: meta_step(f, r, p, opt_p, train, test, s.inner_lr,
                                                      gradient=meta_gradient_hvp),
    }
    g_ref, _ = meta_gradient(f, r, p, train, test, s.inner_lr)
    g_hvp, _ = meta_gradient_hvp(f, r, p, train, test, s.inner_lr)
    diff = max(float((g_ref[k] - g_hvp[k]).abs().max()) for k in g_ref)
    scale = max(float(g.abs().max()) for g in g_ref.values())
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for step in kinds.values():  # warm-up
        step()
    for _ in range(args.rounds):
        for name, step in kinds.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            rates[name].append(args.steps / (time.perf_counter() - t0))
    print(f"\n== crop {crop}×{crop}, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds × {args.steps} steps ==")
    med = {k: statistics.median(v) for k, v in rates.items()}
    for name, v in rates.items():
        print(f"{name:<26} {med[name]:7.3f} steps/s   (rounds: {', '.join(f'{x:.3f}' for x in v)})")
    print(f"meta step speed-up with meta_gradient_hvp: ×{med['meta (meta_gradient_hvp)'] / med['meta (meta_gradient)']:.2f}"
          f"; |Δ meta-gradient| max {diff:.1e} (largest entry {scale:.1e}, float32)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", default="128,96,64")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="steps of each kind per round")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    for crop in (int(c) for c in args.crops.split(",")):
        bench_crop(crop, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
