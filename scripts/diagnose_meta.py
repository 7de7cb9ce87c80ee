"""Is P's meta-gradient pointing the right way? Measure it on synthetic batches whose answer is known
(refusion_core/training/meta_signal.py says what is measured and how to read it).

    python scripts/diagnose_meta.py --task mfif --draws 60                  # per-pixel signal, fresh F, R, P
    python scripts/diagnose_meta.py --task meif --weights resources/weights/meif.safetensors --draws 60
    python scripts/diagnose_meta.py --task mfif --train-p 200 --average 4   # Adam on P alone, F and R frozen
    python scripts/diagnose_meta.py --task mfif --weights W --draws 0 --train-p 20 --crop 64
                                         # the same at W's F and R (a trained F: see docs/BENCHMARKS.md);
                                         # --fresh F or R replaces one of them, --inner-lr sets η

The synthetic crops come from scikit-image's sample images, never from the benchmark data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refusion_core.models.checkpoint import load_model, new_bundle  # noqa: E402
from refusion_core.training.meta_signal import SyntheticSource, signal_report, train_p_only  # noqa: E402
from refusion_core.models import LossProposalNet, ReconstructionNet  # noqa: E402
from refusion_core.training.settings import TrainSettings  # noqa: E402

SKIMAGE_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel", "moon",
                  "page", "text", "coins", "horse", "immunohistochemistry", "cat", "hubble_deep_field")


def sample_images() -> list[np.ndarray]:
    """scikit-image's sample images as float32 grayscale in [0, 1] (those this version has)."""
    import cv2
    from skimage import data
    out = []
    for name in SKIMAGE_IMAGES:
        img = getattr(data, name, None)
        if img is None:
            continue
        img = np.asarray(img())
        if img.dtype == bool:
            continue
        if img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
        out.append(img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else float(img.max() or 1)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True, choices=("mfif", "meif"))
    ap.add_argument("--weights", type=Path, help="F and R (and P for the signal at its maps) from this file; "
                    "default: fresh modules")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--draws", type=int, default=40, help="meta-train / meta-test draws for the per-pixel signal")
    ap.add_argument("--inner-lr", type=float, default=1e-2)
    ap.add_argument("--train-p", type=int, default=0, metavar="STEPS", help="then Adam on a fresh P for STEPS")
    ap.add_argument("--average", type=int, default=1, help="draws averaged per P step")
    ap.add_argument("--proposal", choices=("p-3", "p-2"), default="p-3",
                    help="the fresh P of --train-p: refusion-p-3 (with the feature prior) or p-2")
    ap.add_argument("--lr-p", type=float, default=1e-3)
    ap.add_argument("--eps", type=float, default=1e-12, help="Adam's epsilon for P")
    ap.add_argument("--fresh", choices=("F", "R"), help="with --weights: replace that module by a fresh one (which "
                    "of the two turns the signal)")
    ap.add_argument("--gradient-scale", type=float, default=TrainSettings().gradient_scale,
                    help="the losses' ∇ as a multiple of the normalised Sobel (TrainSettings.gradient_scale; 8, the "
                         "trainer's default since 2026-12-05; the figures in docs/BENCHMARKS.md before then: 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bundle = load_model(args.weights, args.task) if args.weights else new_bundle(args.task, seed=args.seed)
    fusion, recon = bundle.fusion, bundle.reconstruction or ReconstructionNet()
    origin = args.weights or "fresh F and R"
    if args.weights and args.fresh:
        fresh = new_bundle(args.task, seed=args.seed)
        fusion, recon = (fresh.fusion, recon) if args.fresh == "F" else (fusion, fresh.reconstruction)
        origin = f"{args.weights} with a fresh {args.fresh}"
    source = SyntheticSource(args.task, sample_images(), args.crop, seed=args.seed)
    if args.draws:
        t0 = time.perf_counter()
        stats = signal_report(fusion, recon, bundle.proposal if args.weights else None, source, args.draws,
                              args.batch, args.inner_lr, args.gradient_scale)
        print(f"{args.task}: per-pixel meta-gradient s = g_a - g_b, {args.draws} draws of {args.batch} crops "
              f"{args.crop}², {origin}, {time.perf_counter() - t0:.0f} s")
        print("  right way: s_v < 0 where A is the right source, > 0 where B is")
        for name, st in stats.items():
            print(f"  {name:<9} mean {st.mean:+.3e}  se {st.se:.2e}  z {st.z:+6.1f}  snr/draw {st.snr:+.2f}  "
                  f"draws for 3 se {st.draws_for_3se:7.1f}")
    if args.train_p:
        proposal = LossProposalNet(prior=args.proposal == "p-3")
        print(f"Adam on a fresh P refusion-{args.proposal} alone ({origin} frozen): {args.train_p} steps, {args.average} draw(s) each, "
              f"lr {args.lr_p}, eps {args.eps}")
        t0 = time.perf_counter()
        train_p_only(fusion, recon, proposal, source, args.train_p, args.average, args.batch, args.lr_p,
                     args.inner_lr, args.eps, every=max(1, args.train_p // 10), gradient_scale=args.gradient_scale,
                     log=lambda r: print(f"  step {r['step']:4d}  va over A-right {r['va_good_a']:.3f}  "
                                         f"vb over B-right {r['vb_good_b']:.3f}  wa {r['wa']:.3f}  "
                                         f"({time.perf_counter() - t0:.0f} s)", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
