"""How close F comes to what its own loss asks: the fit gap, pair by pair (issue 13, twelfth session).

    python scripts/probe_fit.py [--weights resources/weights/mfif.safetensors] [--pairs 0 1 2 3 13]
    python scripts/probe_fit.py --pairs 0 --specialise 400 [--lr 1e-4]
    python scripts/probe_fit.py --means

For pairs of the campaign's multi-focus hold-out (train split; indices into it), the fusion loss (Eq. 1-3, at the
model's own training scale: TrainSettings.loss_alpha1 from the settings the weights record) of F's output and of its
maps' blend w_a·Ia + w_b·Ib (the intensity term's optimum; with w following v, the image P's maps select), the paper
metrics of both and of the Laplacian pyramid, and F fused with itself: F(I, I) against I, the mean error in levels
of 255 and Q_CB (1 for a perfect copy). With ``--specialise N`` F is trained N steps on each pair alone (Adam at
``--lr``, 4 crops of 96² a step, P's whole-image maps held) and the loss and the metrics are printed every 100
steps: how far an F of this size gets when it has only one pair to fuse, which a general F cannot beat on that pair.
With ``--means``, the paper metrics' means over the whole hold-out of F's output, the blend, the maps' hard choice
(each pixel from the source with v above ½) and the Laplacian pyramid: whether P's maps, rather than F, reach a target.
On 2026-12-06 (docs/BENCHMARKS.md, "Twelfth session") the default's loss on the hold-out's first pair was 14 times
its blend's, and F specialised on that pair alone stalled at 3.5-6 times it, with Q_CB 0.75-0.77 against the
blend's 0.846. Needs ../shared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refusion_core import MAP_NAMES as MAPS  # noqa: E402
from refusion_core.fusing.fuser import Fuser  # noqa: E402
from refusion_core.models.checkpoint import ModelBundle, load_model  # noqa: E402
from refusion_core.training.losses import fusion_loss  # noqa: E402
from refusion_core.training.settings import LEGACY_GRADIENT_SCALE, TrainSettings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def loss_alpha1(bundle: ModelBundle) -> float:
    """α1 as the losses took it when the weights were trained (TrainSettings.loss_alpha1 of the recorded settings)."""
    s = bundle.meta.get("settings") or {}
    return TrainSettings(alpha1=float(s.get("alpha1", 1.0)),
                         gradient_scale=float(s.get("gradient_scale", LEGACY_GRADIENT_SCALE))).loss_alpha1


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]


def fit_gap(bundle: ModelBundle, ya: np.ndarray, yb: np.ndarray, alpha1: float) -> dict:
    """F's output, P's maps and their blend on one pair, with the fusion loss of the output and of the blend."""
    fused, maps = Fuser(bundle, "cpu").fuse_luminance(ya, yb)
    m = torch.from_numpy(np.stack([maps[k] for k in MAPS]))[None]
    blend = maps["wa"] * ya + maps["wb"] * yb
    with torch.no_grad():
        losses = {name: float(fusion_loss(_t(img), _t(ya), _t(yb), m, alpha1)[0])
                  for name, img in (("model", fused), ("blend", blend))}
    return {"fused": fused, "blend": blend, "maps": maps, "loss": losses}


def identity_error(bundle: ModelBundle, y: np.ndarray, engine: str = "fast") -> tuple[float, float]:
    """F(I, I) against I: the mean absolute error in levels of 255, and Q_CB (1 for a perfect copy)."""
    from refusion_core.metrics import compute_metrics
    f, _ = Fuser(bundle, "cpu", engine=engine).fuse_luminance(y, y, maps=False)
    q = compute_metrics(255.0 * y, 255.0 * y, np.round(255.0 * np.clip(f, 0.0, 1.0)), ["Q_CB"])["Q_CB"]
    return float(np.abs(f - y).mean() * 255.0), float(q)


def specialise(bundle: ModelBundle, ya: np.ndarray, yb: np.ndarray, maps: dict, steps: int, lr: float,
               alpha1: float, crop: int = 96, batch: int = 4, every: int = 100, seed: int = 0):
    """Train ``bundle``'s F in place on one pair alone (the maps held); yields (step, whole-image loss, output)
    at step 0 and every ``every`` steps."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.stack([ya, yb]).astype(np.float32))[None]
    m = torch.from_numpy(np.stack([maps[k] for k in MAPS]))[None]
    f = bundle.fusion
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    h, w = ya.shape
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            f.eval()
            with torch.no_grad():
                out = f(x)
                yield step, float(fusion_loss(out, x[:, :1], x[:, 1:], m, alpha1)[0]), out[0, 0].numpy()
        if step == steps:
            break
        f.train()
        at = [(int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))) for _ in range(batch)]
        xs = torch.cat([x[:, :, i:i + crop, j:j + crop] for i, j in at])
        ms = torch.cat([m[:, :, i:i + crop, j:j + crop] for i, j in at])
        loss, _ = fusion_loss(f(xs), xs[:, :1], xs[:, 1:], ms, alpha1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    f.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=REPO / "resources" / "weights" / "mfif.safetensors")
    ap.add_argument("--pairs", type=int, nargs="+", default=[0, 1, 2, 3, 13], help="indices into the hold-out")
    ap.add_argument("--specialise", type=int, default=0, help="train F this many steps on each pair alone")
    ap.add_argument("--lr", type=float, default=1e-4, help="with --specialise: Adam's rate")
    ap.add_argument("--means", action="store_true", help="means over the whole hold-out (model, blend, hard, pyramid)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from campaign import CAMPAIGN, read_json, split_pairs  # the campaign's hold-out (exits without ../shared)
    from refusion_core.fusing.baselines import laplacian_pyramid
    from refusion_core.metrics import PAPER_METRICS, compute_metrics
    from refusion_core.training.data import load_luminance_pair
    pairs = split_pairs("mfif", read_json(CAMPAIGN / "mfif" / "plan.json")["holdout"])[1]
    names = PAPER_METRICS["mfif"]

    def score(ya, yb, img):
        d = compute_metrics(255.0 * ya, 255.0 * yb, np.round(255.0 * np.clip(img, 0.0, 1.0)), names)
        return " ".join(f"{k} {d[k]:.4g}" for k in names)

    if args.means:
        bundle = load_model(args.weights, "mfif")
        rows: dict[str, list[dict]] = {}
        for pa, pb in pairs:
            ya, yb = load_luminance_pair(pa, pb)
            gap = fit_gap(bundle, ya, yb, loss_alpha1(bundle))
            images = {"model": gap["fused"], "blend": gap["blend"],
                      "hard choice": np.where(gap["maps"]["va"] > 0.5, ya, yb), "laplacian": laplacian_pyramid(ya, yb)}
            for name, img in images.items():
                rows.setdefault(name, []).append(compute_metrics(
                    255.0 * ya, 255.0 * yb, np.round(255.0 * np.clip(img, 0.0, 1.0)), names))
        print(f"{args.weights.name}, means over {len(pairs)} hold-out pairs (luminance):")
        print("| image | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
        for name, r in rows.items():
            print(f"| {name} | " + " | ".join(f"{np.mean([x[k] for x in r]):.4g}" for k in names) + " |")
        return 0
    for i in args.pairs:
        if not 0 <= i < len(pairs):
            print(f"probe_fit: the hold-out has {len(pairs)} pairs; {i} is not one", file=sys.stderr)
            return 2
        bundle = load_model(args.weights, "mfif")
        alpha1 = loss_alpha1(bundle)
        ya, yb = load_luminance_pair(*pairs[i])
        gap = fit_gap(bundle, ya, yb, alpha1)
        err, q = identity_error(bundle, ya)
        print(f"{pairs[i][0].stem} ({ya.shape[1]}x{ya.shape[0]}), loss x1e4: model {gap['loss']['model'] * 1e4:.2f}, "
              f"blend {gap['loss']['blend'] * 1e4:.2f} (x{gap['loss']['model'] / gap['loss']['blend']:.1f}); "
              f"F(A, A) against A: {err:.2f} levels, Q_CB {q:.3f}")
        print(f"  model     {score(ya, yb, gap['fused'])}")
        print(f"  blend     {score(ya, yb, gap['blend'])}")
        print(f"  laplacian {score(ya, yb, laplacian_pyramid(ya, yb))}", flush=True)
        for step, loss, out in specialise(bundle, ya, yb, gap["maps"], args.specialise, args.lr, alpha1):
            if step:
                print(f"  specialised, step {step}: loss x1e4 {loss * 1e4:.2f}; {score(ya, yb, out)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
