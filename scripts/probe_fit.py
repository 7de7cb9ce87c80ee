"""How close F comes to what its own loss asks: the fit gap, pair by pair (issue 13, twelfth session).

    python scripts/probe_fit.py [--weights resources/weights/mfif.safetensors] [--pairs 0 1 2 3 13]
    python scripts/probe_fit.py --pairs 0 --specialise 400 [--lr 1e-4] [--widen] [--anneal]
    python scripts/probe_fit.py --means

For pairs of the campaign's multi-focus hold-out (train split; indices into it), the fusion loss (Eq. 1-3, at the
model's own training scale: TrainSettings.loss_alpha1 from the settings the weights record) of F's output and of its
maps' blend w_a·Ia + w_b·Ib (the intensity term's optimum; with w following v, the image P's maps select), the paper
metrics of both and of the Laplacian pyramid, and F fused with itself: F(I, I) against I, the mean error in levels
of 255 and Q_CB (1 for a perfect copy). With ``--specialise N`` F is trained N steps on each pair alone (Adam at
``--lr``, 4 crops of 96² a step, P's whole-image maps held) and the loss and the metrics are printed every 100
(``--every``) steps: how far an F of this size gets when it has only one pair to fuse, which a general F cannot
beat on that pair; with ``--widen`` the same from F at twice its width, computing the same function at step 0
(``widen_fusion``), with ``--anneal`` at a rate decaying to 0.
With ``--means``, the paper metrics' means over the whole hold-out of F's output, the blend, the maps' hard choice
(each pixel from the source with v above ½) and the Laplacian pyramid: whether P's maps, rather than F, reach a target
(of F's output and the pyramid only for weights without P, such as the authors' released checkpoint).
On 2026-12-06 (docs/BENCHMARKS.md, "Twelfth session") the default's loss on the hold-out's first pair was 14 times
its blend's, and F specialised on that pair alone stalled at 3.5-6 times it, with Q_CB 0.75-0.77 against the
blend's 0.846; at twice the width (``--widen``) it stalled in the same band ("Thirteenth session"). Needs ../shared.
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
from refusion_core.models.fusion import FusionNet  # noqa: E402
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


def _head_map(d: int, heads: int) -> torch.Tensor:
    """For a width-d tensor of ``heads`` heads widened to 2d: the old channel behind each new one. Every old channel
    appears twice, both times in its own head (new head h = old head h's channels, each twice)."""
    dh = d // heads
    j = torch.arange(2 * d)
    return (j // (2 * dh)) * dh + j % dh


def _per_chunk(m: torch.Tensor, n: int, d: int) -> torch.Tensor:
    """``m`` (width d -> 2d) applied to each of the n chunks of a width n·d tensor (q, k, v; gate and value)."""
    return torch.cat([k * d + m for k in range(n)])


def widen_fusion(f: FusionNet, seed: int = 0) -> FusionNet:
    """F at twice its width computing the same function (Net2WiderNet, Chen et al. 2016): every channel of every
    tensor duplicated, the heads kept (8; a head's channels stay in it), each convolution's weight on the two copies of
    an input channel split r, 1 − r at random (r in [¼, ¾]) so that the copies' gradients differ from the first step.

    Exact up to float round-off: LayerNorm sees each channel twice (same mean and variance), the channel attention's
    softmax over a head with each key twice gives each copy half its weight on a value that is there twice. A probe
    of F's capacity (``--widen``): it is not the paper's F (0.06 M parameters; this one 0.21 M).
    """
    c, heads = f.dim, f.heads
    rng = torch.Generator().manual_seed(seed)
    old, new = f.state_dict(), {}
    gc = _head_map(c, heads)  # the branches' streams x1, x2 (width C)
    gu = torch.cat([gc, c + gc])  # u = cat(x1, x2) and the decoder's stream (width 2C)
    one = torch.zeros(1, dtype=torch.long)

    def conv(name: str, gi: torch.Tensor, go: torch.Tensor) -> None:
        w = old[name + ".weight"][go][:, gi]  # (O', I', k, k)
        if len(gi) > 1:  # each old input channel twice: weights r and 1 - r on its copies
            r = 0.25 + 0.5 * torch.rand(len(go), int(gi.max()) + 1, generator=rng)
            first = torch.zeros(len(gi), dtype=torch.bool)
            first[np.unique(gi.numpy(), return_index=True)[1]] = True  # each old channel's first copy
            w = w * torch.where(first, r[:, gi], 1.0 - r[:, gi])[:, :, None, None]
        new[name + ".weight"] = w

    def copy(name: str, g: torch.Tensor) -> None:  # depthwise conv, LayerNorm: per channel
        new[name] = old[name][g].clone()

    def block(p: str, gs: torch.Tensor, d: int) -> None:
        hid = _per_chunk(_head_map(2 * d, heads), 2, 2 * d)  # GDFN's gate and value, 2D each
        qkv = _per_chunk(gs, 3, d)
        for n in ("norm1.body.weight", "norm1.body.bias", "norm2.body.weight", "norm2.body.bias"):
            copy(f"{p}.{n}", gs)
        new[f"{p}.attn.temperature"] = old[f"{p}.attn.temperature"].clone()
        conv(f"{p}.attn.qkv", gs, qkv)
        copy(f"{p}.attn.qkv_dwconv.weight", qkv)
        conv(f"{p}.attn.project_out", gs, gs)
        conv(f"{p}.ffn.project_in", gs, hid)
        copy(f"{p}.ffn.dwconv.weight", hid)
        conv(f"{p}.ffn.project_out", hid[:2 * len(gs)], gs)

    m4 = _head_map(4 * c, heads)  # AFM's expansions (width 4C each)
    for k in ("1", "2"):
        conv(f"project_in_{k}", one, gc)
        for i in range(2):
            block(f"encoder{k}.{i}", gc, c)
        new[f"FM.temperature{k}"] = old[f"FM.temperature{k}"].clone()
        conv(f"FM.qkv{k}", gc, _per_chunk(gc, 3, c))
        copy(f"FM.qkv{k}_dwconv.weight", _per_chunk(gc, 3, c))
        conv(f"FM.project_mid{k}", gc, gc)
        conv(f"FM.project_E{k}", gc, m4)
        copy(f"FM.project_E{k}_d.weight", m4)
        conv(f"FM.project_out{k}", m4, gu)
    conv("FM.project_E", gu, _per_chunk(m4, 2, 4 * c))
    copy("FM.project_E_d.weight", _per_chunk(m4, 2, 4 * c))
    for i in range(2):
        block(f"decoder.{i}", gu, 2 * c)
    conv("project_out_0", gu, gc)
    conv("project_out_1", gc, one)
    wide = FusionNet(2 * c, heads)
    wide.load_state_dict(new)  # strict: every tensor mapped
    return wide.train(f.training)


def specialise(bundle: ModelBundle, ya: np.ndarray, yb: np.ndarray, maps: dict, steps: int, lr: float,
               alpha1: float, crop: int = 96, batch: int = 4, every: int = 100, seed: int = 0, anneal: bool = False):
    """Train ``bundle``'s F in place on one pair alone (the maps held); yields (step, whole-image loss, output)
    at step 0 and every ``every`` steps. With ``anneal`` the rate decays from ``lr`` to 0 by a cosine over the steps
    (a settled F instead of Adam's noise at a constant rate)."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.stack([ya, yb]).astype(np.float32))[None]
    m = torch.from_numpy(np.stack([maps[k] for k in MAPS]))[None]
    f = bundle.fusion
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=0.0) if anneal else None
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
        if cosine is not None:
            cosine.step()
    f.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=REPO / "resources" / "weights" / "mfif.safetensors")
    ap.add_argument("--pairs", type=int, nargs="+", default=[0, 1, 2, 3, 13], help="indices into the hold-out")
    ap.add_argument("--specialise", type=int, default=0, help="train F this many steps on each pair alone")
    ap.add_argument("--lr", type=float, default=1e-4, help="with --specialise: Adam's rate")
    ap.add_argument("--widen", action="store_true", help="with --specialise: F widened to twice its width first")
    ap.add_argument("--anneal", action="store_true", help="with --specialise: the rate decays to 0 by a cosine")
    ap.add_argument("--every", type=int, default=100, help="with --specialise: print every this many steps")
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
            if bundle.proposal is None:  # a released checkpoint: F alone, no maps to blend
                images = {"model": Fuser(bundle, "cpu").fuse_luminance(ya, yb, maps=False)[0]}
            else:
                gap = fit_gap(bundle, ya, yb, loss_alpha1(bundle))
                images = {"model": gap["fused"], "blend": gap["blend"],
                          "hard choice": np.where(gap["maps"]["va"] > 0.5, ya, yb)}
            images["laplacian"] = laplacian_pyramid(ya, yb)
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
        if args.widen:
            bundle.fusion = widen_fusion(bundle.fusion)
        for step, loss, out in specialise(bundle, ya, yb, gap["maps"], args.specialise, args.lr, alpha1,
                                            every=args.every, anneal=args.anneal):
            if step:
                print(f"  specialised, step {step}: loss x1e4 {loss * 1e4:.2f}; {score(ya, yb, out)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
