"""What the fusion loss asks for, with no network in the way: the image that minimises Lf (Eq. 1-3) for given maps.

    python scripts/probe_loss_optimum.py [--weights resources/weights/mfif.safetensors] [--steps 600]
    python scripts/probe_loss_optimum.py --holdout [--crop 256] [--w half v] [--sharpen 1 2] [--scales 8 16]

On the synthetic multi-focus pair of scripts/check_maps.py (scikit-image's camera, the left half blurred in A, the
right half in B, σ = 3), the maps of a multi-focus model's P (w, v; v optionally sharpened with
LossProposalNet.sharpen) define Lf; a free image starting at the sources' average is optimised with Adam, for
each scale of the losses' ∇ (TrainSettings.gradient_scale: 1 the normalised Sobel, 8 the plain kernel), and the
sharp source's gradient energy the optimum keeps on each half is printed (issue 13 asks F for 0.9). F can do no
better than the optimum of the loss it is trained on, so a loss whose optimum keeps half the detail explains a
model that keeps half. Prints one line per (sharpening, scale).

With ``--holdout``, the same optimum on every other pair of the campaign's multi-focus hold-out (train split, top-left
``--crop``² of each, for cost), scored by the paper metrics beside the model's own output and the Laplacian pyramid,
for w as P gives it (``half``: the shipped multi-focus P holds w at ½, as the paper's figure) or replaced by v (``v``:
w following focus, which the paper's figure does not show). It says what the loss, not F, can reach: on 2026-12-05 the
optimum with w = ½ kept Q_CB at 0.771–0.773 for v × 1–2 and ∇ × 8–16, below the Laplacian pyramid's 0.780, and
with w = v reached 0.789 (docs/BENCHMARKS.md, "The multi-focus loss's optimum"). Needs ../shared.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_maps import sharp_energy_kept  # noqa: E402

from refusion_core.fusing.fuser import Fuser  # noqa: E402
from refusion_core.models.checkpoint import load_model  # noqa: E402
from refusion_core.training.synthetic import multifocus_pair  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def loss_optimum(a: np.ndarray, b: np.ndarray, maps: dict, scale: float, steps: int) -> np.ndarray:
    """The image minimising Lf = Σ w (I − F)² + Σ v (scale·∇I − scale·∇F)² (α1 = 1) for fixed ``maps``."""
    import torch

    from refusion_core.training.losses import fusion_loss
    ta, tb = torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None]
    m = torch.from_numpy(np.stack([maps[k] for k in ("wa", "wb", "va", "vb")]).astype(np.float32))[None]
    fused = ((ta + tb) / 2).clone().requires_grad_(True)
    opt = torch.optim.Adam([fused], lr=3e-3)
    for _ in range(steps):
        loss, _ = fusion_loss(fused, ta, tb, m, alpha1=scale ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return fused.detach()[0, 0].numpy()


def holdout_metrics(args) -> int:
    """--holdout: the paper metrics of the loss's optimum, the model's output and the Laplacian pyramid."""
    import json

    from refusion_core.fusing.baselines import laplacian_pyramid
    from refusion_core.metrics import PAPER_METRICS, compute_metrics
    from refusion_core.paths import shared_dir
    from refusion_core.training.data import BENCHMARK_SETS, holdout, load_luminance_pair, pairs_from_manifest
    shared = shared_dir()
    if shared is None:
        print("probe_loss_optimum: --holdout needs ../shared (the data sets) beside the checkout", file=sys.stderr)
        return 2
    n = json.loads((REPO / "campaign" / "mfif" / "plan.json").read_text())["holdout"]
    train = pairs_from_manifest(shared / "datasets" / "manifest.json", BENCHMARK_SETS["mfif"], "train")
    pairs = holdout(train, n)[1][::2]
    base = load_model(args.weights, "mfif")
    fusers = {}
    for k in args.sharpen:
        model = copy.deepcopy(base)
        model.proposal.sharpen(k, "v")
        fusers[k] = Fuser(model, device="cpu")
    names, scores = PAPER_METRICS["mfif"], {}
    for i, (pa, pb) in enumerate(pairs):
        a, b = (x[:args.crop, :args.crop].copy() for x in load_luminance_pair(pa, pb))
        images = {"laplacian pyramid": laplacian_pyramid(a, b)}
        for k, fuser in fusers.items():
            out = fuser.fuse(a, b)
            images[f"model, v x{k:g}"] = out.fused_y
            for w in args.w:
                maps = dict(out.maps)
                if w == "v":
                    maps["wa"], maps["wb"] = maps["va"], maps["vb"]
                for scale in args.scales:
                    images[f"optimum, v x{k:g}, w {w}, scale {scale:g}"] = loss_optimum(a, b, maps, scale, args.steps)
        for name, f in images.items():
            f255 = 255.0 * np.clip(np.asarray(f, np.float64), 0.0, 1.0)
            scores.setdefault(name, []).append(compute_metrics(255.0 * a, 255.0 * b, f255, names))
        print(f"\r{i + 1}/{len(pairs)} pairs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{args.weights.name}, {len(pairs)} hold-out pairs, top-left {args.crop}² crops:")
    print("| image | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for name, rows in scores.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([r[m] for r in rows]):.4g}" for m in names) + " |")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=REPO / "resources" / "weights" / "mfif.safetensors")
    ap.add_argument("--steps", type=int, default=600, help="Adam steps on the free image (600 is converged)")
    ap.add_argument("--sharpen", type=float, nargs="+", default=[1.0, 2.0, 3.0], help="factors on P's v logits")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 8.0], help="gradient scales")
    ap.add_argument("--holdout", action="store_true", help="the paper metrics of the optimum on hold-out crops")
    ap.add_argument("--crop", type=int, default=256, help="with --holdout: the crop's side")
    ap.add_argument("--w", nargs="+", choices=("half", "v"), default=["half", "v"], help="with --holdout: w maps")
    args = ap.parse_args()
    if args.holdout:
        return holdout_metrics(args)
    from skimage import data
    img = data.camera().astype(np.float32) / 255
    a, b = multifocus_pair(img, sigma=3.0)  # A sharp on the right
    base = load_model(args.weights, "mfif")
    print(f"{args.weights.name}: sharp energy kept by the image that minimises Lf (left, right half)")
    for k in args.sharpen:
        model = copy.deepcopy(base)
        model.proposal.sharpen(k, "v")
        maps = Fuser(model, device="cpu").fuse(a, b).maps
        w = img.shape[1]
        va_sharp = float(maps["va"][:, w // 2 + 16:].mean())
        for scale in args.scales:
            left, right = sharp_energy_kept(loss_optimum(a, b, maps, scale, args.steps), a, b)
            print(f"  v logits x{k:g} (v_a over A's sharp half {va_sharp:.3f}), gradient scale {scale:g}: "
                  f"{left:.2f} {right:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
