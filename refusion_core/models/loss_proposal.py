"""P, the loss proposal module: [wa, wb], [va, vb] = P(Ia, Ib, ∇Ia, ∇Ib).

Not released by the authors; the paper shows a small convolutional/Restormer network with a final
softmax. Our design, ``refusion-p-2`` (from the first stages of the quality campaign, issue 13), is swap-equivariant:

    g(x, y) = conv3_{C->2}(RTB(leaky_relu(conv3_{4->C}([x, y, ∇x, ∇y]))))      (B, 2, H, W), C = 16
    la = g(Ia, Ib), lb = g(Ib, Ia)                                             one pass over a 2B batch
    [wa, wb] = softmax([la_0, lb_0]), [va, vb] = softmax([la_1, lb_1])        over the pair axis

so P(Ib, Ia) is P(Ia, Ib) with a and b exchanged: a source is preferred for what it shows at a pixel (its
brightness, its sharpness, its contrast to the other source), never for being the first or the second input.
Why: P learns only from Algorithm 1's noisy second-order signal. scripts/diagnose_meta.py showed that on
synthetic multi-focus batches the per-pixel signal of v points the right way (toward the sharp source), but
Adam on the first design (``refusion-p-1``: one conv3_{C->4} head with four free logits) moved v the wrong
way: a global, content-free preference for one input, pushed by F's own (random) asymmetry, grew faster
than the content-dependent part (mean v over the sharp regions 0.50 -> 0.38 in 54 steps), as the shipped
models showed (MFIF w_a 0.72 everywhere; MEIF's balance drifting 0.45-0.55 between runs). With the swapped
pass the content-free part is zero by construction and the same steps moved v toward the sharp source on
both halves (docs/BENCHMARKS.md, "Is P's signal right?"). The cost is P run on twice the pixels.

``refusion-p-3`` (the default for new models since 2026-12-04) adds to each source's two logits a learnt linear
function of three per-pixel features of that source alone, each over a Gaussian neighbourhood (σ = 2 px):

    s(x) = [log(1e-4 + G_σ * ∇x²), G_σ * x, G_σ * (x − ½)²]                     local sharpness, brightness, distance
    la += PRIOR_SCALE · Γ s(Ia),  lb += PRIOR_SCALE · Γ s(Ib)                  from mid-grey; Γ (2, 3), zero at start

so the maps can follow "the sharper / the brighter / the better exposed source" with six numbers. Why:
scripts/diagnose_meta.py showed that P's meta-gradient per pixel has a signal-to-noise ratio near 1 per draw
(fresh F) or far below (trained F), and that ``refusion-p-2`` spreads it over 4,500 weights of a small network
whose features must first be learnt: Adam on P alone moved v over the sharp half of synthetic multi-focus pairs
0.50 -> 0.57 in 60 steps. The same signal summed over every pixel into Γ moved it 0.50 -> 0.65 in 20 steps at
lr 1e-3 (64² crops) and to 0.67 in 10 at lr 3e-3 (docs/BENCHMARKS.md, "Is P's signal right?"; the test). Γ only adds to the network's logits (which start at zero as
before), so every map is still exactly ½ at initialisation, the swap-equivariance holds (s is computed per
source), and the network keeps learning what the features do not say. PRIOR_SCALE = 30 puts Γ in units in
which Adam's step (1e-3) moves a logit by 0.03 per unit of feature: Γ reaches the size of the features' spread
(a few units) in hundreds of meta steps instead of thousands. The paper does not show P; its inputs
(Ia, Ib, ∇Ia, ∇Ib) are the same.

``refusion-p-1`` (``symmetric=False``) and ``refusion-p-2`` (``prior=False``) are kept so that models trained with
them load and run unchanged; :func:`proposal_for_state` builds the version a state dict holds.

∇ is the Sobel gradient magnitude (kornia, normalised kernels). The last convolution starts at zero,
so at initialisation every map is exactly 1/2 (4,504 parameters; p-1 4,792; p-3 4,510): the fusion target is the plain
average of the sources (intensity) and of their gradients, a sensible start that needs no pre-training. The
gradient inputs let P see sharpness and texture directly, which multi-focus and exposure need.
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from kornia.filters import gaussian_blur2d
from torch import nn

from refusion_core import MAP_NAMES  # noqa: F401 (models.MAP_NAMES)
from refusion_core.models.blocks import RestormerBlock, conv3x3, sobel_magnitude

ARCH_VERSION = "refusion-p-3"  # swap-equivariant with the feature prior; p-2 without it, p-1 not equivariant
ARCH_VERSIONS = {(True, True): "refusion-p-3", (True, False): "refusion-p-2", (False, False): "refusion-p-1"}
PRIOR_SIGMA = 2.0  # px, the neighbourhood of the prior's features
PRIOR_EPS = 1e-4  # inside the log of the local gradient energy
PRIOR_SCALE = 30.0  # Γ's units (module docstring)
PRIOR_KERNEL = 2 * int(2 * PRIOR_SIGMA) + 1  # the Gaussian's side (±2σ)
PRIOR_HALO = PRIOR_KERNEL + 1  # rows a strip of prior logits reads beyond its own: more than Sobel + blur reach


def prior_features(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The prior's features of one source: x (N, 1, H, W) and its Sobel magnitude -> (N, 3, H, W) =
    [log(eps + G * ∇x²), G * x, G * (x − ½)²], G a Gaussian of σ = PRIOR_SIGMA (reflected border)."""
    feats = torch.cat([grad * grad, x, (x - 0.5) ** 2], dim=1)
    blurred = gaussian_blur2d(feats, (PRIOR_KERNEL, PRIOR_KERNEL), (PRIOR_SIGMA, PRIOR_SIGMA), border_type="reflect")
    return torch.cat([torch.log(PRIOR_EPS + blurred[:, :1]), blurred[:, 1:]], dim=1)


class LossProposalNet(nn.Module):
    """P. forward(ia, ib) with ia, ib (B, 1, H, W) in [0, 1] -> (B, 4, H, W) maps wa, wb, va, vb.

    wa + wb = 1 and va + vb = 1 at every pixel. The defaults are ``refusion-p-3``; ``prior=False`` is
    ``refusion-p-2``, ``symmetric=False`` (which has no prior) ``refusion-p-1`` (see the module docstring).
    """

    def __init__(self, dim: int = 16, heads: int = 8, zero_init: bool = True, symmetric: bool = True,
                 prior: bool | None = None):
        super().__init__()
        prior = symmetric if prior is None else prior
        if prior and not symmetric:
            raise ValueError("the feature prior needs the swap-equivariant P (symmetric=True)")
        self.dim, self.heads, self.symmetric, self.has_prior = dim, heads, symmetric, prior
        self.project_in = conv3x3(4, dim)
        self.body = RestormerBlock(dim, heads)
        self.project_out = conv3x3(dim, 2 if symmetric else 4)
        if zero_init:
            nn.init.zeros_(self.project_out.weight)
        if prior:  # Γ: rows [w, v], columns the features of prior_features; zero: maps of ½ at the start
            self.prior = nn.Parameter(torch.zeros(2, 3))

    @property
    def arch_version(self) -> str:
        return ARCH_VERSIONS[(self.symmetric, self.has_prior)]

    @torch.no_grad()
    def hold_w_half(self) -> None:
        """Zero every parameter that reaches a w-logit (the head's w rows, their bias, Γ's w row), so that
        wa = wb = ½ exactly at every pixel while v stays learnt (TrainSettings.fixed_w). A projection: the
        trainer calls it around every step, so whatever Adam does to these entries never reaches a map; the
        state dict stays an ordinary one of this version (the app, the fast fuser and the maps export read it
        unchanged)."""
        w_rows = [0] if self.symmetric else [0, 1]  # symmetric: [w, v] per source; p-1: [wa, wb, va, vb]
        self.project_out.weight[w_rows] = 0
        if self.project_out.bias is not None:
            self.project_out.bias[w_rows] = 0
        if self.has_prior:
            self.prior[0] = 0

    @torch.no_grad()
    def sharpen(self, factor: float, maps: str = "v") -> None:
        """Multiply the logits of ``maps`` ("w", "v" or "wv") by ``factor``: the same P at temperature 1/factor.
        Where P prefers a source (a logit difference d) it now prefers it with softmax(factor · d); where it has
        no preference (d = 0: flat regions, ½) nothing changes, and the ranking of the sources never does. Exact:
        every logit is linear in the head's rows, their bias and Γ's row, which are scaled. Why: Algorithm 1 gives
        P 30,000 meta steps; ours get hundreds, in which P learns the direction of the paper's maps (the sharper
        source, the well-exposed one) but not their decisiveness (the shipped multi-focus v_a 0.71 over A's sharp
        half, where the paper's figure is near 1; with L2 gradient terms F then keeps about v_a² ≈ half of the
        sharp source's gradient energy). ``scripts/campaign.py`` uses it once, at a candidate's start, with the
        factor chosen on the hold-out (docs/BENCHMARKS.md); it is not part of the paper's method."""
        if not maps or set(maps) - {"w", "v"}:
            raise ValueError(f"maps must be 'w', 'v' or 'wv', not {maps!r}")
        if not factor > 0:
            raise ValueError("the sharpening factor must be positive")
        per_source = {"w": 0, "v": 1}  # symmetric: [w, v] per source; p-1: [wa, wb, va, vb]
        rows = ([per_source[m] for m in maps] if self.symmetric
                else [r for m in maps for r in ((0, 1) if m == "w" else (2, 3))])
        self.project_out.weight[rows] *= factor
        if self.project_out.bias is not None:
            self.project_out.bias[rows] *= factor
        if self.has_prior:
            self.prior[[per_source[m] for m in maps]] *= factor

    @torch.no_grad()
    def tie_w_to_v(self, scale: float = 1.0) -> None:
        """Copy every parameter that reaches a v-logit, times ``scale``, onto the matching w-logit (the head's rows,
        their bias, Γ's row), so that w = softmax(scale · v-logits): at ``scale`` 1 wa = va and wb = vb exactly at
        every pixel, and the intensity term asks for the source that the gradient term prefers; below 1 w leans the
        same way, less (½ where v is ½). Not the paper's multi-focus figure (w near ½ there), but a map P may learn: for
        multi-focus the fusion loss's own optimum with w = ½ stays below the Laplacian pyramid on SF, VIF, Q_CB and
        Q_NCIE, and with w = v it passes it on SF, Q_CB and Q_NCIE (docs/BENCHMARKS.md, "The multi-focus loss's
        optimum"). ``scripts/campaign.py`` uses it once, at a candidate's start, with P then frozen."""
        if self.symmetric:  # [w, v] per source
            self.project_out.weight[0] = scale * self.project_out.weight[1]
            if self.project_out.bias is not None:
                self.project_out.bias[0] = scale * self.project_out.bias[1]
        else:  # p-1: [wa, wb, va, vb]
            self.project_out.weight[0:2] = scale * self.project_out.weight[2:4]
            if self.project_out.bias is not None:
                self.project_out.bias[0:2] = scale * self.project_out.bias[2:4]
        if self.has_prior:
            self.prior[0] = scale * self.prior[1]

    def prior_logits(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The prior's share of one source's [w-logit, v-logit]: (N, 1, H, W) and its ∇ -> (N, 2, H, W)."""
        return torch.einsum("oc,nchw->nohw", PRIOR_SCALE * self.prior, prior_features(x, grad))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4, H, W) = [x, y, ∇x, ∇y] -> (N, 2 or 4, H, W) logits."""
        return self.project_out(self.body(fn.leaky_relu(self.project_in(x), 0.01)))

    def forward(self, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
        ga, gb = sobel_magnitude(ia), sobel_magnitude(ib)
        if not self.symmetric:
            logits = self.logits(torch.cat([ia, ib, ga, gb], dim=1))  # (B, 4, H, W)
            w, v = logits[:, 0:2], logits[:, 2:4]
        else:
            x = torch.cat([torch.cat([ia, ib, ga, gb], dim=1), torch.cat([ib, ia, gb, ga], dim=1)])  # (2B, 4, H, W)
            la, lb = self.logits(x).chunk(2)  # (B, 2, H, W) each: [w-logit, v-logit] of a, of b
            if self.has_prior:
                la, lb = la + self.prior_logits(ia, ga), lb + self.prior_logits(ib, gb)
            w, v = torch.cat([la[:, 0:1], lb[:, 0:1]], dim=1), torch.cat([la[:, 1:2], lb[:, 1:2]], dim=1)
        return torch.cat([w.softmax(dim=1), v.softmax(dim=1)], dim=1)  # (B, 4, H, W): wa, wb, va, vb


def proposal_for_state(state: dict[str, torch.Tensor], **kw) -> LossProposalNet:
    """A P of the version whose parameters ``state`` holds: p-1 has a 4-logit head, p-2 a 2-logit one, p-3
    also ``prior``."""
    head = state.get("project_out.weight")
    symmetric = head is None or head.shape[0] == 2
    return LossProposalNet(symmetric=symmetric, prior=symmetric and "prior" in state, **kw)
