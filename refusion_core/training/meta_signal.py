"""Does P's meta-gradient point the right way? A diagnostic on synthetic batches whose answer is known.

P learns only in Algorithm 1's meta step, from the second-order term ∂Lr(meta-test)/∂θP through F'. This
module measures that signal where the right maps are known, before hours of training are spent on it:

- ``mfif``: one image per crop, one half (left, right, top or bottom, at random) blurred in A and the other in
  B. Where A is sharp, v should move toward A (the paper's Fig. 10: v favours the sharper source).
- ``meif``: an under-exposed A and an over-exposed B of one crop (:func:`synthetic.exposure_pair`). Where B is
  blown and A is not clipped, v should move toward A; where A is crushed and B is not clipped, toward B
  (Fig. 11).

Two measurements:

1. :func:`map_gradient` gives the meta-gradient per pixel of the maps themselves, ∂Lr_outer/∂(wa, wb, va, vb),
   at P's current maps. With the softmax, the logit of va moves by −(g_va − g_vb)·va·vb under gradient
   descent, so ``s_v = g_va − g_vb`` < 0 over a region means "more va here". :func:`signal_report` averages
   s_v (and s_w for the intensity weights) per region over many meta-train / meta-test draws and gives the
   mean, its standard error, z = mean / se, the per-draw signal-to-noise ratio and the number of draws after
   which the mean stands 3 standard errors out of the noise (9 / snr²).
2. :func:`train_p_only` runs Adam on P alone (F and R frozen) with the meta-gradient of each step averaged over
   ``average`` draws, and reports the mean of v over each region of held-out synthetic batches: whether the
   update, not only the per-pixel gradient, moves v toward the right source.

Findings (docs/BENCHMARKS.md, "Is P's signal right?"; 96² crops, batch 4, η = 1e-2):

- mfif, fresh F and R: s_v points the right way on both regions, z = −9.9 and +7.7 after 40 draws, a
  signal-to-noise ratio of 1.2 to 1.6 per draw; but the mean of s_v over the two regions is not 0: a
  content-free push toward one input (F's random asymmetry) of about a third of the content-dependent part.
  s_w points to the blurred source (z ≈ ±7): for a fresh F the intensity weight would add blur.
- With P ``refusion-p-1`` (four free logits), Adam on P alone followed the content-free part: mean va over
  A's sharp regions fell 0.50 -> 0.38 and vb over B's rose to 0.62 in 54 steps, i.e. v moved toward B
  everywhere. With the swap-equivariant ``refusion-p-2`` the content-free part is zero by construction and
  the same 60 steps gave va 0.57 and vb 0.565 over the right regions: the update points the right way.
- P's parameter gradients are 1e-9 to 1e-7 per entry, at or below Adam's default ε = 1e-8, which damped
  the deeper layers; the trainer gives P ε = 1e-12 (``TrainSettings.adam_eps_p``).
- meif, fresh F and R: s_v is right over B's blown highlights (z −2.6) and wrong over A's crushed shadows
  (z −4.7), and s_w is a thousand times larger than s_v and prefers the over-exposed source everywhere: a
  fresh F's grey output is nearer the bright source. With the shipped meif F and R (5,700 steps) it is noise
  over 20 draws (|z| < 1, signal-to-noise 0.03-0.19 per draw): 250-900 draws for 3 standard errors.
- A fresh F on an all-black crop gave NaN (fixed in :func:`refusion_core.models.blocks.channel_attention`).
- mfif, at the F and R of the first campaign (the shipped default's F and R plus 1,102 steps, 2026-12-04):
  the per-pixel signal is gone, |z| ≤ 0.6 over 40 draws (signal-to-noise 0.04-0.10 per draw), and Adam on a
  fresh P there (64² crops, lr 1e-3, 20 steps) barely moves v: ``refusion-p-3`` (the feature prior,
  :mod:`refusion_core.models.loss_proposal`) 0.52 / 0.52, ``refusion-p-2`` 0.50 / 0.50, against 0.65 / 0.65 for p-3
  with fresh F and R. A fresh R with the trained F (0.52), a fresh F with the trained R (0.49) or η = 0.1 (0.55) do
  not bring it back; on another image set the sign even turned (p-3 0.26 / 0.30 in 40 steps). A reading consistent
  with it: on these pairs the sharp half is at random, so R, which sees only If, cannot tell which source to give
  the detail of If; under the per-pixel max the reconstruction loss falls as If gains detail only up to about
  half of it, so the push toward the sharp source is strong while F gives less than that (fresh) and fades once
  F gives the average. So P must learn its map while F is young, which is how the multi-focus campaign was
  restarted (scripts/campaign.py, PLANS["mfif"]).
- The reading is confirmed by scripts/probe_reconstruction.py (R trained alone on fixed fusion rules of the
  multi-focus train pairs, Lr on unseen pairs): R ``refusion-r-1`` gets average 0.00567 < 0.7·Laplacian + 0.3·average
  0.00674 < Laplacian pyramid 0.00741 < A 0.00883, and an R of six times its parameters the same order (0.00425 <
  0.00561 < 0.00662 < 0.00799). Under the per-pixel max, an R that cannot tell which source was in focus does best
  with the midpoint of the sources, which is their average; the sharp composite is as far from the blurred source
  as A is from B. So the outer loss of the paper does not ask for the all-sharp multi-focus fusion, and the map
  recedes toward ½ once F gives the average (docs/BENCHMARKS.md: the authors' released model keeps 0.82 / 0.78 of the
  sharp energy on check_maps' pair; the issue's target is 0.90). On the other tasks' train splits the average wins
  too (R r-1, Lr on unseen pairs: ivif 0.0219 vs Laplacian 0.0287, mif 0.0215 vs 0.0300, meif 0.0032 vs 0.0064 and
  Mertens 0.0246): the optimum of the outer loss is near ablation I's target, and maps that favour the better source
  come from the path toward it (a push while F gives less than R can use, which fades as F nears the average), so
  the campaign looks for its models early in P's training and selects them on the hold-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from refusion_core.training.losses import fusion_loss
from refusion_core.training.meta import Batch, _inner_recon, meta_gradient_hvp, outer_loss
from refusion_core.training.synthetic import exposure_pair, exposure_regions

SIGNAL_TASKS = ("mfif", "meif")


@dataclass
class SyntheticBatch:
    """A meta batch with its two regions: ``good_a`` (B, 1, h, w) bool where A is the right source of
    gradients, ``good_b`` where B is. Pixels in neither (meif: both or neither exposure clipped) are left out."""

    batch: Batch
    good_a: torch.Tensor
    good_b: torch.Tensor


class SyntheticSource:
    """Draws synthetic meta batches of ``task`` from grayscale images (float32 (H, W) in [0, 1]).

    Deterministic for a seed. mfif: Gaussian blur ``sigma`` on the defocused half; meif: ± ``stops`` EV.
    """

    def __init__(self, task: str, images: list[np.ndarray], crop: int, seed: int = 0, sigma: float = 3.0,
                 stops: float = 2.0):
        if task not in SIGNAL_TASKS:
            raise ValueError(f"task must be one of {', '.join(SIGNAL_TASKS)}, not {task!r}")
        self.task, self.crop, self.sigma, self.stops = task, crop, sigma, stops
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise ValueError(f"no image is at least {crop}×{crop}")
        self.rng = np.random.default_rng(seed)

    def _crop(self) -> np.ndarray:
        im = self.images[int(self.rng.integers(len(self.images)))]
        h, w = im.shape
        y, x = int(self.rng.integers(0, h - self.crop + 1)), int(self.rng.integers(0, w - self.crop + 1))
        return np.ascontiguousarray(im[y:y + self.crop, x:x + self.crop])

    def _mfif(self, img: np.ndarray):
        c = self.crop
        blurred = cv2.GaussianBlur(img, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)
        sharp_a = np.zeros((c, c), bool)
        if self.rng.random() < 0.5:
            sharp_a[:, : c // 2] = True
        else:
            sharp_a[:, c // 2:] = True
        if self.rng.random() < 0.5:
            sharp_a = sharp_a.T.copy()
        a = np.where(sharp_a, img, blurred)
        b = np.where(sharp_a, blurred, img)
        # a 4-pixel band on either side of the seam is in neither region (the blur mixes both there)
        edge = cv2.dilate((cv2.Laplacian(sharp_a.astype(np.float32), -1) != 0).astype(np.uint8), np.ones((9, 9)))
        return a, b, sharp_a & (edge == 0), ~sharp_a & (edge == 0)

    def _meif(self, img: np.ndarray):
        under, over = exposure_pair(img, self.stops)
        blown, crushed = exposure_regions(under, over)
        return under, over, blown, crushed

    def focus_sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One mfif crop as (sharp, A, B): the unblurred crop (the ideal fusion) and its two sources."""
        img = self._crop()
        a, b, _, _ = self._mfif(img)
        return img, a, b

    def batch(self, n: int) -> SyntheticBatch:
        """n crops -> a SyntheticBatch of (n, 1, crop, crop) tensors."""
        make = self._mfif if self.task == "mfif" else self._meif
        parts = [make(self._crop()) for _ in range(n)]
        t = lambda i, dtype: torch.from_numpy(np.stack([p[i] for p in parts]).astype(dtype))[:, None]
        return SyntheticBatch(Batch(t(0, np.float32), t(1, np.float32)), t(2, bool), t(3, bool))


def map_gradient(fusion: nn.Module, recon: nn.Module, maps: torch.Tensor, train: Batch, test: Batch,
                 inner_lr: float, alpha1: float = 1.0, alpha2: float = 1.0) -> torch.Tensor:
    """∂Lr_outer/∂maps per pixel: (B, 4, h, w), for maps (B, 4, h, w) = wa, wb, va, vb on the meta-train batch.

    The same outer loss as :func:`refusion_core.training.meta.meta_gradient` (one SGD look-ahead of F by Lf with the
    graph kept, one of R by Lr, then Lr of the meta-test batch through F' and R'), differentiated with respect
    to the maps instead of θP: what P's last layer is asked to produce, before P's own Jacobian.
    """
    maps = maps.detach().requires_grad_()
    params_f = dict(fusion.named_parameters())
    fused = functional_call(fusion, params_f, (train.pair,))
    lf, _ = fusion_loss(fused, train.ia, train.ib, maps, alpha1)
    grads = torch.autograd.grad(lf, list(params_f.values()), create_graph=True)
    fast_f = {k: p - inner_lr * g for (k, p), g in zip(params_f.items(), grads)}
    fast_r, _ = _inner_recon(recon, fused.detach(), train, inner_lr, alpha2, "max")
    outer = outer_loss(fusion, recon, fast_f, fast_r, test, alpha2)
    return torch.autograd.grad(outer, maps)[0]


@dataclass
class RegionStat:
    """Per-draw regional means of s = g_a − g_b (for v or for w) and their summary."""

    values: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def se(self) -> float:
        return float(np.std(self.values, ddof=1) / math.sqrt(len(self.values))) if len(self.values) > 1 else math.inf

    @property
    def z(self) -> float:
        return self.mean / self.se if self.se > 0 else math.inf

    @property
    def snr(self) -> float:
        """Signal-to-noise ratio of one draw: mean / standard deviation."""
        sd = float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.inf
        return self.mean / sd if sd > 0 else math.inf

    @property
    def draws_for_3se(self) -> float:
        """Draws after which the mean is 3 standard errors from 0: 9 / snr²."""
        return 9.0 / self.snr ** 2 if self.snr != 0 else math.inf


def signal_report(fusion: nn.Module, recon: nn.Module, proposal: nn.Module | None, source: SyntheticSource,
                  draws: int, batch: int = 4, inner_lr: float = 1e-2, gradient_scale: float = 1.0
                  ) -> dict[str, RegionStat]:
    """Regional means of the per-pixel meta-gradient over ``draws`` meta-train / meta-test draws.

    Keys: ``v_good_a``, ``v_good_b``, ``w_good_a``, ``w_good_b``: s_v = g_va − g_vb (or s_w = g_wa − g_wb)
    averaged over the region where A (or B) is the right source. The right direction is s_v < 0 over
    ``good_a`` and s_v > 0 over ``good_b``. ``proposal`` None means maps of 1/2 (a fresh P). ``gradient_scale``:
    the losses' ∇ (TrainSettings.gradient_scale; α1 = α2 = its square).
    """
    stats = {k: RegionStat() for k in ("v_good_a", "v_good_b", "w_good_a", "w_good_b")}
    for _ in range(draws):
        train, test = source.batch(batch), source.batch(batch)
        ia, ib = train.batch.ia, train.batch.ib
        if proposal is None:
            maps = torch.full((ia.shape[0], 4, *ia.shape[2:]), 0.5)
        else:
            with torch.no_grad():
                maps = proposal(ia, ib)
        g = map_gradient(fusion, recon, maps, train.batch, test.batch, inner_lr, gradient_scale ** 2,
                         gradient_scale ** 2)
        s_w, s_v = (g[:, 0:1] - g[:, 1:2]), (g[:, 2:3] - g[:, 3:4])  # (B, 1, h, w)
        for name, s in (("v", s_v), ("w", s_w)):
            for region, mask in (("good_a", train.good_a), ("good_b", train.good_b)):
                if mask.any():
                    stats[f"{name}_{region}"].values.append(float(s[mask].mean()))
    return stats


@torch.no_grad()
def region_means(proposal: nn.Module, batches: list[SyntheticBatch]) -> dict[str, float]:
    """Mean va over the ``good_a`` pixels and mean vb over the ``good_b`` pixels of ``batches`` (both
    should rise above 1/2), and mean wa over all pixels."""
    va, vb, wa = [], [], []
    for sb in batches:
        maps = proposal(sb.batch.ia, sb.batch.ib)
        va.append(maps[:, 2:3][sb.good_a])
        vb.append(maps[:, 3:4][sb.good_b])
        wa.append(maps[:, 0:1].flatten())
    cat = lambda xs: float(torch.cat(xs).mean()) if sum(x.numel() for x in xs) else math.nan
    return {"va_good_a": cat(va), "vb_good_b": cat(vb), "wa": cat(wa)}


def train_p_only(fusion: nn.Module, recon: nn.Module, proposal: nn.Module, source: SyntheticSource,
                 steps: int, average: int = 1, batch: int = 4, lr: float = 1e-3, inner_lr: float = 1e-2,
                 eps: float = 1e-12, eval_batches: list[SyntheticBatch] | None = None, every: int = 0,
                 log=None, gradient_scale: float = 1.0) -> list[dict]:
    """Adam on P alone (F, R frozen), each step on the meta-gradient averaged over ``average`` draws.

    Returns the :func:`region_means` of ``eval_batches`` at the start, every ``every`` steps and at the end,
    each with its ``step``. ``log`` (a callable) receives each record as it is made.
    """
    opt = torch.optim.Adam(proposal.parameters(), lr=lr, eps=eps)
    evals = eval_batches or [source.batch(batch) for _ in range(4)]
    records = []

    def record(step):
        records.append({"step": step, **region_means(proposal, evals)})
        if log:
            log(records[-1])

    record(0)
    for step in range(1, steps + 1):
        total = {k: torch.zeros_like(p) for k, p in proposal.named_parameters()}
        for _ in range(average):
            train, test = source.batch(batch), source.batch(batch)
            grads, _ = meta_gradient_hvp(fusion, recon, proposal, train.batch, test.batch, inner_lr,
                                         gradient_scale ** 2, gradient_scale ** 2)
            for k in total:
                total[k] += grads[k] / average
        opt.zero_grad(set_to_none=True)
        for k, p in proposal.named_parameters():
            p.grad = total[k]
        opt.step()
        if (every and step % every == 0) or step == steps:
            record(step)
    return records
