"""Algorithm 1's two updates as short functions over parameter dicts (torch.func.functional_call).

The inner update takes one SGD step on F's parameters by Lf with the graph kept,
θF' = θF − η ∂Lf/∂θF (θF itself untouched), and one on R's by Lr (R' does not depend on P, so its
graph is not needed). The outer loss is Lr on a meta-test batch fused by F' and reconstructed by R';
its gradient reaches θP only through θF', a second-order term ∂Lr/∂θF' · (−η ∂²Lf/∂θF∂θP).

With several processes (:mod:`refusion_core.training.distributed`; every rank has its own batches x_r of the
same size, and a no-op with one process), each update is the one a single process would make on the
concatenated batch [x_0; x_1; ...], because every loss is a mean over equal-sized batches:

- plain steps (:func:`fuse_recon_step`, :func:`decision_step`): each rank backpropagates its own mean loss and
  the ``.grad`` tensors are averaged over ranks before the optimiser steps;
- meta step: the inner gradients of F and R are averaged over ranks, so that every rank builds the same F', R'
  (the one of the whole meta-train batch); for F' the average is taken inside the graph
  (:func:`~refusion_core.training.distributed.all_reduce_mean` is differentiable), because θP reaches F' through
  every rank's maps. Each rank's outer loss Lr_r on its own meta-test batch then sends ∂Lr_r/∂θF' back through
  the average to every rank's inner gradient; P's gradients are averaged over ranks at the end. In
  :func:`meta_gradient_hvp` the same split is explicit: v = ∂Lr_r/∂θF' is averaged over ranks (V, the
  gradient of the mean outer loss at θF'), each rank pulls V back through its own inner gradient
  (−η ∂⟨g_r, V⟩/∂θP), and those are averaged: −η (1/W) Σ_r (∂g_r/∂θP)ᵀ V, with g = (1/W) Σ_r g_r, is exactly
  ∂/∂θP of the mean outer loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from refusion_core.training import distributed as dist
from refusion_core.training.losses import fusion_loss, reconstruction_loss


@dataclass
class Batch:
    """Two sources, each (B, 1, h, w) in [0, 1]."""

    ia: torch.Tensor
    ib: torch.Tensor

    @property
    def pair(self) -> torch.Tensor:
        return torch.cat([self.ia, self.ib], dim=1)  # (B, 2, h, w)


def inner_update(fusion: nn.Module, recon: nn.Module, maps: torch.Tensor, batch: Batch, inner_lr: float,
                 alpha1: float, alpha2: float, reduce: str = "max", first_order: bool = False):
    """One look-ahead step of F and R on a meta-train batch.

    Returns (fast_f, fast_r, lf, lr): parameter dicts of F' and R' and the two inner losses.
    fast_f keeps the graph to ``maps`` (hence to P) unless ``first_order``. With several processes the inner
    gradients are the means over ranks (the one of F inside the graph); see the module docstring.
    """
    params_f = dict(fusion.named_parameters())
    fused = functional_call(fusion, params_f, (batch.pair,))
    lf, _ = fusion_loss(fused, batch.ia, batch.ib, maps, alpha1)
    grads = torch.autograd.grad(lf, list(params_f.values()), create_graph=not first_order)
    grads = dist.all_reduce_mean(grads)  # differentiable; the same tuple with one process
    fast_f = {k: p - inner_lr * g for (k, p), g in zip(params_f.items(), grads)}

    fast_r, lr = _inner_recon(recon, fused.detach(), batch, inner_lr, alpha2, reduce)
    return fast_f, fast_r, lf.detach(), lr


def outer_loss(fusion: nn.Module, recon: nn.Module, fast_f: dict, fast_r: dict, batch: Batch,
               alpha2: float, reduce: str = "max") -> torch.Tensor:
    """Lr of a meta-test batch fused by F' and reconstructed by R'."""
    fused = functional_call(fusion, fast_f, (batch.pair,))
    rec_a, rec_b = functional_call(recon, fast_r, (fused,))
    return reconstruction_loss(rec_a, rec_b, batch.ia, batch.ib, alpha2, reduce)[0]


def meta_gradient(fusion: nn.Module, recon: nn.Module, proposal: nn.Module, train: Batch, test: Batch,
                  inner_lr: float, alpha1: float = 1.0, alpha2: float = 1.0, reduce: str = "max",
                  first_order: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """∂(outer Lr)/∂θP for one meta-train / meta-test pair of batches.

    Returns ({name: grad} for every parameter of P (zeros where no gradient arrives), losses as floats:
    ``lf`` and ``lr`` of the inner update, ``outer_lr``).
    """
    maps = proposal(train.ia, train.ib)  # (B, 4, h, w)
    fast_f, fast_r, lf, lr = inner_update(fusion, recon, maps, train, inner_lr, alpha1, alpha2, reduce,
                                          first_order)
    outer = outer_loss(fusion, recon, fast_f, fast_r, test, alpha2, reduce)
    params_p = dict(proposal.named_parameters())
    if outer.requires_grad and not first_order:
        grads = torch.autograd.grad(outer, list(params_p.values()), allow_unused=True)
    else:
        grads = [None] * len(params_p)
    grads = {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params_p.items(), grads)}
    return grads, {"lf": float(lf), "lr": float(lr), "outer_lr": float(outer.detach())}


def meta_gradient_hvp(fusion: nn.Module, recon: nn.Module, proposal: nn.Module, train: Batch, test: Batch,
                      inner_lr: float, alpha1: float = 1.0, alpha2: float = 1.0, reduce: str = "max",
                      first_order: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The same ∂(outer Lr)/∂θP as :func:`meta_gradient`, without differentiating through F's backward.

    θF' = θF − η g with g = ∂Lf/∂θF = J_Fᵀ δ, where J_F = ∂If/∂θF on the meta-train batch does not
    depend on P and δ = ∂Lf/∂If depends on P only through the maps. With v = ∂Lr_outer/∂θF' at θF':

        ∂Lr_outer/∂θP = −η ∂/∂θP (gᵀ v) = −η ∂/∂θP ⟨δ(θP), J_F v⟩,

    so one forward-mode product u = J_F v (torch.func.jvp) replaces the second-order pass through F,
    and the remaining derivative goes only through the loss and P. F' is built from a first-order g.
    Returns what :func:`meta_gradient` returns.
    """
    maps = proposal(train.ia, train.ib)  # (B, 4, h, w), graph to θP
    params_f = {k: p.detach() for k, p in fusion.named_parameters()}
    names = list(params_f)
    leaves = {k: p.requires_grad_() for k, p in ((k, p.clone()) for k, p in params_f.items())}
    fused = functional_call(fusion, leaves, (train.pair,))
    f0 = fused.detach().requires_grad_()
    lf, _ = fusion_loss(f0, train.ia, train.ib, maps, alpha1)
    delta = torch.autograd.grad(lf, f0, create_graph=not first_order)[0]  # δ(θP), (B, 1, h, w)
    g = torch.autograd.grad(fused, [leaves[k] for k in names], grad_outputs=delta.detach())
    g = dist.all_reduce_mean(g)  # the whole meta-train batch's g (no graph needed here)
    fast_f = {k: (params_f[k] - inner_lr * gk).requires_grad_() for k, gk in zip(names, g)}
    fast_r, lr = _inner_recon(recon, fused.detach(), train, inner_lr, alpha2, reduce)
    outer = outer_loss(fusion, recon, fast_f, fast_r, test, alpha2, reduce)
    params_p = dict(proposal.named_parameters())
    grads = [None] * len(params_p)
    if not first_order:
        v = torch.autograd.grad(outer, [fast_f[k] for k in names])
        v = dist.all_reduce_mean(v)  # V: the gradient of the mean outer loss over ranks at θF'
        _, u = torch.func.jvp(lambda p: functional_call(fusion, p, (train.pair,)), (params_f,),
                              ({k: vk for k, vk in zip(names, v)},))  # u = J_F v, (B, 1, h, w)
        grads = torch.autograd.grad((delta * u).sum(), list(params_p.values()), allow_unused=True)
        grads = [None if gp is None else -inner_lr * gp for gp in grads]
    grads = {k: torch.zeros_like(p) if gp is None else gp for (k, p), gp in zip(params_p.items(), grads)}
    return grads, {"lf": float(lf.detach()), "lr": float(lr), "outer_lr": float(outer.detach())}


def _inner_recon(recon: nn.Module, fused: torch.Tensor, batch: Batch, inner_lr: float, alpha2: float,
                 reduce: str) -> tuple[dict, torch.Tensor]:
    """R' = R − η ∂Lr/∂θR on a fused batch (detached): the inner update of R."""
    params_r = dict(recon.named_parameters())
    rec_a, rec_b = functional_call(recon, params_r, (fused,))
    lr, _ = reconstruction_loss(rec_a, rec_b, batch.ia, batch.ib, alpha2, reduce)
    grads_r = dist.all_reduce_mean(torch.autograd.grad(lr, list(params_r.values())))
    return {k: (p - inner_lr * g).detach() for (k, p), g in zip(params_r.items(), grads_r)}, lr.detach()


def meta_step(fusion: nn.Module, recon: nn.Module, proposal: nn.Module, opt_p: torch.optim.Optimizer,
              train: Batch, test: Batch, inner_lr: float, alpha1: float = 1.0, alpha2: float = 1.0,
              reduce: str = "max", first_order: bool = False, *, gradient=None) -> dict[str, float]:
    """The outer update: one Adam step of P on the meta-gradient. F and R are left unchanged.

    ``gradient`` picks how the meta-gradient is computed: :func:`meta_gradient` (None, the default) or
    :func:`meta_gradient_hvp` (the same value, cheaper). With several processes P's gradient is averaged
    over ranks before the step.
    """
    grads, losses = (gradient or meta_gradient)(fusion, recon, proposal, train, test, inner_lr, alpha1,
                                                alpha2, reduce, first_order)
    opt_p.zero_grad(set_to_none=True)
    for name, p in proposal.named_parameters():
        p.grad = grads[name]
    dist.average_grads(proposal.parameters())
    opt_p.step()
    return losses


def fuse_recon_step(fusion: nn.Module, recon: nn.Module, proposal: nn.Module | None,
                    opt_f: torch.optim.Optimizer | None, opt_r: torch.optim.Optimizer, batch: Batch,
                    alpha1: float = 1.0, alpha2: float = 1.0, reduce: str = "max",
                    fixed_maps: bool = False, opt_p: torch.optim.Optimizer | None = None
                    ) -> dict[str, float]:
    """The N-phase update: Adam on F by Lf with P fixed; Adam on R by Lr with If detached.

    ``fixed_maps`` (ablation I) uses w = v = 1/2. With ``opt_p`` (ablation II) P is trained directly
    on the same Lf instead of being held fixed. Both backward passes run before the optimisers step (R's loss
    is on If detached, so F's step does not change it), so that with several processes all the gradients are
    averaged in one all-reduce.
    """
    if fixed_maps or proposal is None:
        maps = torch.full((batch.ia.shape[0], 4, *batch.ia.shape[2:]), 0.5, dtype=batch.ia.dtype,
                          device=batch.ia.device)
    elif opt_p is None:
        with torch.no_grad():
            maps = proposal(batch.ia, batch.ib)
    else:
        maps = proposal(batch.ia, batch.ib)
    fused = fusion(batch.pair)
    lf, _ = fusion_loss(fused, batch.ia, batch.ib, maps, alpha1)
    opts = [opt for opt in (opt_f, opt_p, opt_r) if opt is not None]
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    lf.backward()
    rec_a, rec_b = recon(fused.detach())
    lr, _ = reconstruction_loss(rec_a, rec_b, batch.ia, batch.ib, alpha2, reduce)
    lr.backward()
    dist.average_grads([p for opt in opts for group in opt.param_groups for p in group["params"]])
    for opt in opts:
        opt.step()
    return {"lf": float(lf.detach()), "lr": float(lr.detach()), "outer_lr": None}


def decision_step(recon: nn.Module, proposal: nn.Module, opt_p: torch.optim.Optimizer,
                  opt_r: torch.optim.Optimizer, batch: Batch, alpha2: float = 1.0, reduce: str = "max"
                  ) -> dict[str, float]:
    """Ablation V: If = wa·Ia + wb·Ib from P's maps; P trained by Lr through R, R by Lr on If detached.
    Both gradients are taken before either optimiser steps (one all-reduce with several processes)."""
    maps = proposal(batch.ia, batch.ib)
    fused = maps[:, 0:1] * batch.ia + maps[:, 1:2] * batch.ib  # (B, 1, h, w)
    rec_a, rec_b = recon(fused)
    lr_p, _ = reconstruction_loss(rec_a, rec_b, batch.ia, batch.ib, alpha2, reduce)
    opt_p.zero_grad(set_to_none=True)
    opt_r.zero_grad(set_to_none=True)
    lr_p.backward(inputs=list(proposal.parameters()))
    rec_a, rec_b = recon(fused.detach())
    lr, _ = reconstruction_loss(rec_a, rec_b, batch.ia, batch.ib, alpha2, reduce)
    lr.backward()
    dist.average_grads([*proposal.parameters(), *recon.parameters()])
    opt_p.step()
    opt_r.step()
    return {"lf": None, "lr": float(lr.detach()), "outer_lr": None}
