"""Training throughput on the CPU: the plain step (fuse_recon_step) and the meta step (meta_step with
meta_gradient_hvp, as the trainer runs it), on two paths:

- baseline: the engine as it was before the throughput work (``--baseline-rev``, read from git into a
  temporary package), channels-first modules;
- new: the engine of this tree, modules in channels-last memory format (as the trainer builds them).

Steps of the four kinds alternate in rounds, so that a shared machine's load hits all alike; steps/s is the
median over rounds and the ratio new / baseline is taken per round, then its median. Also prints how far
the new path's meta-gradient is from the second-order meta_gradient on the first batch (float32).

    python benchmarks/bench_train.py                     # 96 px crops, batch 4, 2 threads
    python benchmarks/bench_train.py --crops 64 --rounds 3 --steps 2 --threads 1
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet
from refusion_core.training.meta import Batch, meta_gradient, meta_gradient_hvp
from refusion_core.training.settings import TrainSettings

# the last commit before the throughput work of issue 13 (point 2); P is refusion-p-2 there as here
BASELINE_REV = "4a1ed9f"
ROOT = Path(__file__).resolve().parents[1]


def load_baseline(rev: str, into: Path):
    """The package refusion_core/{meta,losses,models} at git ``rev``, imported as ``refusion_baseline``."""
    paths = ["refusion_core/__init__.py", "refusion_core/training/meta.py", "refusion_core/training/losses.py",
             "refusion_core/models"]
    tar = subprocess.run(["git", "archive", rev, *paths], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    (into / "refusion_core").rename(into / "refusion_baseline")
    sys.path.insert(0, str(into))
    return importlib.import_module("refusion_baseline.meta"), importlib.import_module("refusion_baseline.models")


def make_batches(crop: int, batch: int, n: int, seed: int = 0) -> list[Batch]:
    """Smooth random textures (B, 1, crop, crop) in [0, 1], n batches."""
    g = torch.Generator().manual_seed(seed)

    def texture():
        x = torch.rand(batch, 1, crop // 4, crop // 4, generator=g)
        return torch.nn.functional.interpolate(x, size=(crop, crop), mode="bilinear", align_corners=False)

    return [Batch(texture(), texture()) for _ in range(n)]


def path_steps(meta, models, batches, inner_lr: float, channels_last: bool) -> dict:
    """{"plain": step, "meta": step} on fresh F, R, P (seed 0) of one code path."""
    torch.manual_seed(0)
    f, r, p = models.FusionNet(), models.ReconstructionNet(), models.LossProposalNet(zero_init=False)
    if channels_last:
        f, r, p = (m.to(memory_format=torch.channels_last) for m in (f, r, p))
    opt_f, opt_r, opt_p = (torch.optim.Adam(m.parameters(), lr=1e-4) for m in (f, r, p))
    wrap = lambda b: meta.Batch(b.ia, b.ib)  # noqa: E731
    train, test, plain = (wrap(b) for b in batches)
    return {"plain": lambda: meta.fuse_recon_step(f, r, p, opt_f, opt_r, plain),
            "meta": lambda: meta.meta_step(f, r, p, opt_p, train, test, inner_lr,
                                           gradient=meta.meta_gradient_hvp)}


def bench_crop(crop: int, args, baseline) -> None:
    s = TrainSettings()
    batches = make_batches(crop, args.batch, 3)
    kinds = {}
    for name, step in path_steps(*baseline, batches, s.inner_lr, False).items():
        kinds[f"baseline {name}"] = step
    new = path_steps(sys.modules["refusion_core.training.meta"], sys.modules["refusion_core.models"], batches,
                     s.inner_lr, not args.channels_first)
    for name, step in new.items():
        kinds[f"new {name}"] = step
    order = ["baseline plain", "new plain", "baseline meta", "new meta"]
    rates: dict[str, list[float]] = {k: [] for k in order}
    for name in order:  # warm-up
        kinds[name]()
    for _ in range(args.rounds):
        for name in order:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                kinds[name]()
            rates[name].append(args.steps / (time.perf_counter() - t0))
    print(f"\n== crop {crop}×{crop}, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds × {args.steps} steps, baseline {args.baseline_rev} ==")
    med = {k: statistics.median(v) for k, v in rates.items()}
    for name in order:
        print(f"{name:<16} {med[name]:7.3f} steps/s  {1 / med[name]:6.3f} s/step   "
              f"(rounds: {', '.join(f'{x:.3f}' for x in rates[name])})")
    for kind in ("plain", "meta"):
        ratios = [n / b for n, b in zip(rates[f"new {kind}"], rates[f"baseline {kind}"])]
        print(f"{kind} step new / baseline: ×{statistics.median(ratios):.2f}  "
              f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    print_meta_gradient_gap(batches, s.inner_lr, not args.channels_first)


def print_meta_gradient_gap(batches, inner_lr: float, channels_last: bool) -> None:
    """|meta_gradient_hvp - meta_gradient| on fresh models of the new path (float32 round-off)."""
    torch.manual_seed(0)
    f, r, p = FusionNet(), ReconstructionNet(), LossProposalNet(zero_init=False)
    if channels_last:
        f, r, p = (m.to(memory_format=torch.channels_last) for m in (f, r, p))
    g_ref, _ = meta_gradient(f, r, p, batches[0], batches[1], inner_lr)
    g_hvp, _ = meta_gradient_hvp(f, r, p, batches[0], batches[1], inner_lr)
    diff = max(float((g_ref[k] - g_hvp[k]).abs().max()) for k in g_ref)
    scale = max(float(g.abs().max()) for g in g_ref.values())
    print(f"new path: |meta_gradient_hvp - meta_gradient| max {diff:.1e} (largest entry {scale:.1e}, float32)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", default="96")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2, help="steps of each kind per round")
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the baseline path")
    ap.add_argument("--channels-first", action="store_true", help="run the new path's modules channels-first")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        baseline = load_baseline(args.baseline_rev, Path(tmp))
        for crop in (int(c) for c in args.crops.split(",")):
            bench_crop(crop, args, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
