"""Training on several processes (``torchrun``): who this process is, and averaging across processes.

One process per GPU (or per CPU worker), on one node or several; torchrun starts them and sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT, which :func:`setup` reads (``env://``). The backend is NCCL on CUDA
(device ``cuda:LOCAL_RANK``) and gloo on the CPU.

Choices, made here:
- Data parallel: every rank holds the same F, R and P and draws its own crops. Gradients are averaged with
  explicit all-reduces of the ``.grad`` tensors (:func:`average_grads`, one flat buffer per call) before each
  optimiser step, not with DistributedDataParallel: the meta step differentiates through an inner gradient
  (second order), which DDP's hooks on the first backward do not cover, and one explicit mechanism for both
  kinds of step is easier to check. It costs the overlap of communication with the backward pass that DDP
  would give; for these small networks the all-reduce is a small part of a step.
- The inner update of the meta step needs the *global* meta-train gradient inside the autograd graph
  (θF' = θF − η · mean over ranks of ∂Lf_r/∂θF): :func:`all_reduce_mean` is differentiable. Its backward is
  again a mean over ranks of the incoming gradients; that is the gradient of the *sum* of the ranks' outer
  losses with respect to this rank's input, so that after :func:`average_grads` every rank holds the gradient
  of the mean outer loss, the same as one process on the concatenated batch (see
  :mod:`refusion_core.training.meta`).
- Every function is a no-op with one process (no process group, or a group of one) and returns its input
  itself, so that single-process training is bit for bit what it was.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from refusion_core.devices import resolve_device
from refusion_core.errors import InputError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def world_size() -> int:
    """The number of processes training together (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank, 0 to world_size() − 1 (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes: the run file, checkpoints, previews, the model and the progress bar."""
    return rank() == 0


def setup(device: str | torch.device = "auto", timeout_s: float = 1800) -> torch.device:
    """Join the process group torchrun describes in the environment; returns this rank's device.

    ``device`` "auto" or "cuda" gives ``cuda:LOCAL_RANK`` and NCCL, "cpu" gives the CPU and gloo. A collective
    that waits longer than ``timeout_s`` (a rank that died) raises instead of hanging.
    """
    missing = [k for k in TORCHRUN_ENV if k not in os.environ]
    if missing:
        raise InputError(f"--distributed needs torchrun's environment ({', '.join(missing)} not set); start with "
                         "'torchrun --nproc-per-node N -m refusion_core.cli train ... --distributed'")
    dev = resolve_device(device)
    if dev.type == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise InputError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs on this node; "
                             "give torchrun --nproc-per-node at most the number of GPUs")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", init_method="env://",
                                timeout=timedelta(seconds=timeout_s))
    return dev


def teardown() -> None:
    """Leave the process group (after the last collective)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    """Where small control tensors live: NCCL reduces CUDA tensors only."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _mean_flat(tensors) -> list[torch.Tensor]:
    """Mean over ranks of each tensor, in one all-reduce of one flat buffer. Returns new contiguous tensors."""
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world_size()
    return [piece.view(t.shape) for piece, t in zip(flat.split([t.numel() for t in tensors]), tensors)]


class _AllReduceMean(torch.autograd.Function):
    """y = mean over ranks of x (for each of several tensors); the backward is the same mean of the incoming
    gradients, i.e. ∂(Σ_ranks loss_r)/∂x_r divided by the number of ranks (see the module docstring)."""

    @staticmethod
    def forward(ctx, *tensors):
        return tuple(_mean_flat(tensors))

    @staticmethod
    def backward(ctx, *grads):
        return tuple(_mean_flat(grads))


def all_reduce_mean(tensors):
    """The mean over ranks of each tensor of the sequence ``tensors``, differentiable (the graph of each input is
    kept: gradients flow back to every rank's own input). With one process, ``tensors`` itself."""
    if world_size() == 1:
        return tensors
    return list(_AllReduceMean.apply(*tensors))


def average_grads(params) -> None:
    """Replace each ``.grad`` of ``params`` by its mean over ranks (one all-reduce). Parameters without a
    gradient are skipped; the ranks run the same graph, so the set is the same on every rank."""
    if world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        for g, mean in zip(grads, _mean_flat(grads)):
            g.copy_(mean)


def mean_floats(values: dict) -> dict:
    """A dict of floats (None kept as None) averaged over ranks: the losses a step reports."""
    if world_size() == 1:
        return values
    keys = [k for k, v in values.items() if v is not None]
    if not keys:
        return values
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return {**values, **{k: float(x) / world_size() for k, x in zip(keys, t.tolist())}}


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is set on any rank (a stop asked of one rank, by a signal or a caller, stops all of them
    at the same step)."""
    if world_size() == 1:
        return flag
    t = torch.tensor([int(flag)], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_(tensors, src: int = 0) -> None:
    """Overwrite ``tensors`` in place with rank ``src``'s values (one broadcast of one flat buffer)."""
    if world_size() == 1:
        return
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    for group in groups.values():  # one flat buffer per dtype
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src)
        for t, piece in zip(group, flat.split([t.numel() for t in group])):
            t.detach().copy_(piece.view(t.shape))


def gather_objects(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` with one process."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
