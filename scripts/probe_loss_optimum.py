"""What the fusion loss asks for, with no network in the way: the image that minimises Lf (Eq. 1-3) for given maps.

    python scripts/probe_loss_optimum.py [--weights resources/weights/mfif.safetensors] [--steps 600]

On the synthetic multi-focus pair of scripts/check_maps.py (scikit-image's camera, the left half blurred in A, the
right half in B, σ = 3), the maps of a multi-focus model's P (w, v; v optionally sharpened with
LossProposalNet.sharpen) define Lf; a free image starting at the sources' average is optimised with Adam, for
each scale of the losses' ∇ (TrainSettings.gradient_scale: 1 the normalised Sobel, 8 the plain kernel), and the
sharp source's gradient energy the optimum keeps on each half is printed (issue 13 asks F for 0.9). F can do no
better than the optimum of the loss it is trained on, so a loss whose optimum keeps half the detail explains a
model that keeps half. Prints one line per (sharpening, scale).
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=REPO / "resources" / "weights" / "mfif.safetensors")
    ap.add_argument("--steps", type=int, default=600, help="Adam steps on the free image (600 is converged)")
    ap.add_argument("--sharpen", type=float, nargs="+", default=[1.0, 2.0, 3.0], help="factors on P's v logits")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 8.0], help="gradient scales")
    args = ap.parse_args()
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
