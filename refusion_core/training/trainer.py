"""Algorithm 1 as one trainer that the CLI and the GUI both drive.

``Trainer.run()`` is a generator of :class:`TrainEvent`. Each epoch draws a meta-train/meta-test split,
then runs M meta steps (inner + outer update, :func:`refusion_core.training.meta.meta_step`) and N
fusion-and-reconstruction steps. Pause, resume and stop are honoured between steps (thread-safe
requests). Every ``checkpoint_every`` steps and at stop, ``run_dir/checkpoint.pt`` (the three modules,
the optimisers, the RNG states, the counters) is written atomically, so that ``Trainer.resume`` goes on
exactly where it stopped, and ``run_dir/model.safetensors`` is exported at stop and at the end.

Several processes (``torchrun ... --distributed``, :mod:`refusion_core.training.distributed`): the trainer reads
the process group it is built in. Each rank draws its own crops (its sampler seeded by rank, see
:class:`~refusion_core.training.data.CropSampler`); ``settings.batch`` and ``meta_batch`` are per rank, so that
the effective batch is world size × batch. The epoch's meta-train/meta-test split is rank 0's, broadcast, so
that the halves stay disjoint across ranks. Gradients are averaged as :mod:`refusion_core.training.meta`
says; the reported losses are the ranks' means. A stop asked of any rank stops all at the same step; pause is
for a single process (the app) and is ignored with several. Rank 0 alone writes ``run.json``, checkpoints and
the model, holds the run folder's lock and makes previews; the other ranks yield the same step events without
previews. The run folder must be one that every rank can read (a shared file system) for a resume.

Resume with any number of ranks: the checkpoint holds the modules and optimisers (the same on every rank),
the counters, the split, the torch RNG state (rank 0's; the ranks draw nothing different from it), and the
sampler state of every rank (``sampler_states``, in rank order). Rank r of the resumed run takes saved state r
where there is one, so a run resumed with as many ranks as it had goes on exactly as if it had not stopped;
a rank the saved run did not have starts from :meth:`CropSampler.derived_state` (rank 0's state and r); saved
states of ranks beyond the new world size are dropped. The step counter and the schedule go on from the same
step whatever the world size (the effective batch changes with it).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import torch

from refusion_core import TASKS, __version__
from refusion_core.devices import resolve_device
from refusion_core.errors import InputError, RunError
from refusion_core.io.images import atomic_write_bytes
from refusion_core.models import MAP_NAMES, LossProposalNet, ReconstructionNet
from refusion_core.models.checkpoint import ModelBundle, load_model, new_bundle, save_model
from refusion_core.models.loss_proposal import proposal_for_state
from refusion_core.training import distributed as dist
from refusion_core.training.data import CropSampler, Pair, load_luminance_pair
from refusion_core.training.events import TrainEvent
from refusion_core.training.meta import (
    Batch,
    decision_step,
    fuse_recon_step,
    meta_gradient,
    meta_gradient_hvp,
    meta_step,
)
from refusion_core.training.runlock import RunLock
from refusion_core.training.settings import TrainSettings

RUN_FILE, CKPT_FILE, MODEL_FILE = "run.json", "checkpoint.pt", "model.safetensors"
_FORWARD_AD: bool | None = None


def forward_ad_works() -> bool:
    """Whether torch's forward-mode AD (used by the HVP meta-gradient) runs here. It loads TorchScript
    decompositions that need Python sources, which a frozen (PyInstaller) build may lack; the trainer then
    falls back to the reference meta-gradient, which gives the same value."""
    global _FORWARD_AD
    if _FORWARD_AD is None:
        try:
            torch.func.jvp(lambda x: (x * x).sum(), (torch.ones(2),), (torch.ones(2),))
            _FORWARD_AD = True
        except Exception:  # OSError "could not get source", RuntimeError from TorchScript
            _FORWARD_AD = False
    return _FORWARD_AD


class Trainer:
    """Fine-tunes (or trains) F, R and P on ``pairs`` with Algorithm 1. See the module docstring."""

    def __init__(self, settings: TrainSettings, pairs: list[Pair], run_dir, task: str = "ivif",
                 init: str | Path | ModelBundle | None = None, device="auto", _load_pairs: bool = True):
        self.settings, self.task, self.run_dir = settings, task, Path(run_dir)
        self.device = resolve_device(device)
        self.pairs = [(Path(a), Path(b)) for a, b in pairs]
        if _load_pairs and len(self.pairs) < 2:  # checked before anything is loaded, written or shown
            raise InputError(f"Meta-learning needs at least 2 training pairs (disjoint meta-train and meta-test "
                             f"halves), got {len(self.pairs)}")
        self.init_source = str(init.path if isinstance(init, ModelBundle) else init) if init else "random"
        torch.manual_seed(settings.seed)
        # a bundle passed in is copied, so that the caller's model (e.g. the one shown for comparison) stays as it was
        bundle = copy.deepcopy(init) if isinstance(init, ModelBundle) else (load_model(init, task) if init else new_bundle(task))
        self.fusion = bundle.fusion
        self.recon = bundle.reconstruction or ReconstructionNet()
        self.proposal = bundle.proposal or LossProposalNet()
        for m in (self.fusion, self.recon, self.proposal):
            m.to(self.device, memory_format=torch.channels_last).train()  # faster convs (docs/BENCHMARKS.md)
        s = settings
        self.opt_f = torch.optim.Adam(self.fusion.parameters(), lr=s.lr_f)
        self.opt_r = torch.optim.Adam(self.recon.parameters(), lr=s.lr_r)
        self.opt_p = torch.optim.Adam(self.proposal.parameters(), lr=s.lr_p, eps=s.adam_eps_p)
        self.sgd_f = torch.optim.SGD(self.fusion.parameters(), lr=s.inner_lr)  # ablation III
        self.sgd_r = torch.optim.SGD(self.recon.parameters(), lr=s.inner_lr)
        data = [load_luminance_pair(a, b, s.max_side) for a, b in self.pairs] if _load_pairs else []
        self.sampler = (CropSampler(data, s.crop, s.seed, dist.rank(), darken=s.darken, crush=s.crush, swap=s.swap,
                                    stretch=s.stretch, same=s.same) if data else None)
        self.preview = self._preview_pair(data)
        self.step = self.epoch = self.step_in_epoch = 0
        self.split: tuple[np.ndarray, np.ndarray] | None = None
        self.wall_s = 0.0
        self._pause, self._stop = threading.Event(), threading.Event()
        self._rate = {"meta": None, "fuse": None}

    # ----- the schedule -------------------------------------------------------------------------
    @property
    def phase_steps(self) -> tuple[int, int]:
        """(meta steps, fusion-and-reconstruction steps) per epoch, after the ablation switch (the settings')."""
        return self.settings.phase_steps

    @property
    def total_steps(self) -> int:
        return self.settings.total_steps

    # ----- control (thread-safe) ----------------------------------------------------------------
    def request_pause(self) -> None:
        """Pause between steps (a single process only: with several ranks a pause is ignored)."""
        self._pause.set()

    def request_resume(self) -> None:
        self._pause.clear()

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # ----- the loop -----------------------------------------------------------------------------
    def run(self):
        """Generator of TrainEvents until the schedule ends or a stop is requested."""
        if self.sampler is None:
            raise RunError("This trainer has no training pairs loaded")
        # one trainer per run folder (rank 0 holds the lock for all); stale .part files of a killed run removed
        with RunLock(self.run_dir) if dist.is_main() else contextlib.nullcontext():
            yield from self._run()

    def _run(self):
        main, world = dist.is_main(), dist.world_size()
        if main:
            self._write_run_file()
        dist.broadcast_([t for m in self._modules().values() for t in m.state_dict().values()])  # same start
        ranks = f", {world} processes" if world > 1 else ""
        yield self._event("start", message=f"training on {len(self.pairs)} pairs, {self.device}{ranks}")
        while self.step < self.total_steps and not dist.any_rank(self._stop.is_set()):
            if self._pause.is_set() and world == 1:
                yield self._event("paused")
                while self._pause.is_set() and not self._stop.is_set():
                    time.sleep(0.02)
                if self._stop.is_set():
                    break
                yield self._event("resumed")
            yield self._one_step()
            if self.step % self.settings.preview_every == 0 and main:
                yield self.preview_event()
            if self.step % self.settings.checkpoint_every == 0 and self.step < self.total_steps:
                yield self._event("checkpoint", checkpoint_path=str(self.save_checkpoint()))
        self.save_checkpoint()
        model = self.save_model(self.run_dir / MODEL_FILE) if main else self.run_dir / MODEL_FILE
        dist.barrier()  # every rank returns once rank 0's files are written (a resume may follow at once)
        done = self.step >= self.total_steps
        yield self._event("done" if done else "stopped", checkpoint_path=str(model),
                          message=f"{self.step} of {self.total_steps} steps; model saved to {model}")

    def _project_w(self) -> None:
        """w held at ½ (TrainSettings.fixed_w) or made to follow v (TrainSettings.tie_w), where the settings ask."""
        if self.settings.fixed_w:
            self.proposal.hold_w_half()
        elif self.settings.tie_w:
            self.proposal.tie_w_to_v(self.settings.tie_w)

    def _one_step(self) -> TrainEvent:
        m_steps, _ = self.phase_steps
        if self.step_in_epoch == 0:
            self.split = self._draw_split()
        stage = "meta" if self.step_in_epoch < m_steps else "fuse"
        self._apply_lr()
        t0 = time.perf_counter()
        self._project_w()  # before the step (P may have been loaded or replaced) and after the meta step
        losses = dist.mean_floats(self._meta_update() if stage == "meta" else self._fuse_update())
        self._project_w()
        dt = time.perf_counter() - t0
        self.wall_s += dt
        prev = self._rate[stage]
        self._rate[stage] = dt if prev is None else 0.9 * prev + 0.1 * dt
        self.step += 1
        self.step_in_epoch += 1
        if self.step_in_epoch == sum(self.phase_steps):
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
        return self._event("step", stage=stage, steps_per_s=1.0 / max(self._rate[stage], 1e-9),
                           eta_s=self._eta(), **losses)

    def _draw_split(self) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's meta-train/meta-test halves: every rank draws (its generator advances alike), rank 0's
        are used by all, so that no rank's meta-train pairs are another rank's meta-test pairs."""
        train, test = self.sampler.split()
        if dist.world_size() == 1:
            return train, test
        both = torch.from_numpy(np.concatenate([train, test])).to(self.device, torch.int64)  # NCCL: on the GPU
        dist.broadcast_([both])
        both = both.cpu().numpy()
        return both[:len(train)], both[len(train):]

    def _apply_lr(self) -> None:
        """Set the Adam learning rates of this step (TrainSettings.lr_factor; constant by default)."""
        s = self.settings
        k = s.lr_factor(self.step)
        for opt, base in ((self.opt_f, s.lr_f), (self.opt_r, s.lr_r), (self.opt_p, s.lr_p)):
            for group in opt.param_groups:
                group["lr"] = base * k

    def _batch(self, indices=None, size: int | None = None) -> Batch:
        a, b = self.sampler.batch(size or self.settings.batch, indices)
        return Batch(a.to(self.device), b.to(self.device))

    def _meta_update(self) -> dict:
        s = self.settings
        train, test = self._batch(self.split[0], s.meta_batch), self._batch(self.split[1], s.meta_batch)
        reduce = "sum" if s.ablation == "IV" else "max"
        grad_fn = meta_gradient_hvp if s.meta_gradient == "hvp" and forward_ad_works() else meta_gradient
        losses = meta_step(self.fusion, self.recon, self.proposal, self.opt_p, train, test, s.inner_lr,
                           s.loss_alpha1, s.loss_alpha2, reduce, s.first_order, gradient=grad_fn)
        if s.ablation == "III":  # keep the inner step: F <- F', R <- R'
            fuse_recon_step(self.fusion, self.recon, self.proposal, self.sgd_f, self.sgd_r, train,
                            s.loss_alpha1, s.loss_alpha2, reduce)
        return losses

    def _fuse_update(self) -> dict:
        s, batch = self.settings, self._batch()
        reduce = "sum" if s.ablation == "IV" else "max"
        if s.ablation == "V":
            return decision_step(self.recon, self.proposal, self.opt_p, self.opt_r, batch, s.loss_alpha2, reduce)
        return fuse_recon_step(self.fusion, self.recon, self.proposal, self.opt_f, self.opt_r, batch,
                               s.loss_alpha1, s.loss_alpha2, reduce, fixed_maps=s.ablation == "I",
                               opt_p=self.opt_p if s.ablation == "II" else None)

    def _eta(self) -> float:
        m, n = self.phase_steps
        done_m = self.epoch * m + min(self.step_in_epoch, m)
        left_m = self.settings.epochs * m - done_m
        left_n = self.total_steps - self.step - left_m
        rm = self._rate["meta"] or self._rate["fuse"] or 0.0
        rn = self._rate["fuse"] or self._rate["meta"] or 0.0
        return left_m * rm + left_n * rn

    def _event(self, kind: str, **kw) -> TrainEvent:
        return TrainEvent(kind=kind, step=self.step, total_steps=self.total_steps, epoch=self.epoch, **kw)

    # ----- preview ------------------------------------------------------------------------------
    def _preview_pair(self, data) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not data:
            return None
        a, b = data[0]
        size = self.settings.preview_size
        h, w = a.shape
        y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
        crop = lambda im: torch.from_numpy(np.ascontiguousarray(im[y:y + size, x:x + size]))[None, None]
        return crop(a).to(self.device), crop(b).to(self.device)

    @torch.no_grad()
    def preview_event(self) -> TrainEvent:
        """The four maps of P and the fused crop of F on the preview pair."""
        ia, ib = self.preview
        maps = self.proposal(ia, ib)[0].float().cpu().numpy()  # (4, h, w)
        if self.settings.ablation == "V":
            fused = maps[0] * ia[0, 0].cpu().numpy() + maps[1] * ib[0, 0].cpu().numpy()
        else:
            fused = self.fusion(torch.cat([ia, ib], dim=1))[0, 0].float().cpu().numpy()
        if self.settings.ablation == "I":
            maps = np.full_like(maps, 0.5)
        return self._event("preview", maps={k: maps[i] for i, k in enumerate(MAP_NAMES)}, fused=fused)

    # ----- saving and resuming ------------------------------------------------------------------
    def bundle(self) -> ModelBundle:
        meta = {"task": self.task, "steps": self.step, "settings": self.settings.to_dict(),
                "provenance": {"created_by": f"refusion-studio {__version__}", "init": self.init_source,
                               "pairs": len(self.pairs), "device": str(self.device),
                               "wall_time_s": round(self.wall_s, 1),
                               "date": time.strftime("%Y-%m-%d %H:%M:%S")}}
        if dist.world_size() > 1:
            meta["provenance"]["processes"] = dist.world_size()
        return ModelBundle(self.fusion, self.recon, self.proposal, meta)

    def save_model(self, path) -> Path:
        """Export the model (call it on rank 0 only when training with several processes)."""
        return save_model(path, self.bundle())

    def save_checkpoint(self) -> Path:
        """Write ``run_dir/checkpoint.pt`` (rank 0; every rank must call it, for the ranks' sampler states)."""
        sampler_states = dist.gather_objects(self.sampler.state)
        path = self.run_dir / CKPT_FILE
        if not dist.is_main():
            return path
        state = {
            "modules": {k: m.state_dict() for k, m in self._modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self._optimizers().items()},
            "sampler_state": sampler_states[0], "torch_rng": torch.get_rng_state(),
            "counters": {"step": self.step, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                         "wall_s": self.wall_s},
            "split": None if self.split is None else [s.tolist() for s in self.split],
        }
        if len(sampler_states) > 1:  # one per rank, in rank order (a single process keeps the old format)
            state["sampler_states"] = sampler_states
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def _modules(self):
        return {"fusion": self.fusion, "reconstruction": self.recon, "proposal": self.proposal}

    def _optimizers(self):
        return {"f": self.opt_f, "r": self.opt_r, "p": self.opt_p, "sgd_f": self.sgd_f, "sgd_r": self.sgd_r}

    def _write_run_file(self) -> None:
        info = {"format": "refusion-run", "version": __version__, "task": self.task,
                "settings": self.settings.to_dict(), "init": self.init_source,
                "pairs": [[str(a), str(b)] for a, b in self.pairs]}
        atomic_write_bytes(self.run_dir / RUN_FILE, json.dumps(info, indent=1).encode())

    @classmethod
    def resume(cls, run_dir, device="auto") -> "Trainer":
        """Rebuild a trainer from a run folder and its last checkpoint."""
        run_dir = Path(run_dir)
        info = read_run_file(run_dir)
        if not (run_dir / CKPT_FILE).is_file():
            raise RunError(f"{run_dir} has no {CKPT_FILE} to resume from")
        try:
            settings = TrainSettings.from_dict(info["settings"])
        except (TypeError, ValueError) as err:
            raise RunError(f"{run_dir / RUN_FILE} has settings that cannot be used ({err}); was it edited?") from None
        tr = cls(settings, [tuple(p) for p in info["pairs"]], run_dir, info["task"], None, device)
        tr.init_source = info.get("init", "random")
        tr.load_checkpoint(run_dir / CKPT_FILE)
        return tr

    def load_checkpoint(self, path) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)  # tensors and plain data only: no code runs from a run folder
        except Exception as err:
            raise RunError(f"Cannot read checkpoint {path}: {type(err).__name__}") from None
        p_state = state["modules"]["proposal"]
        if set(p_state) != set(self.proposal.state_dict()):  # a run of another P version (p-1, p-2, p-3)
            self.proposal = proposal_for_state(p_state).to(self.device, memory_format=torch.channels_last).train()
            self.opt_p = torch.optim.Adam(self.proposal.parameters(), lr=self.settings.lr_p,
                                          eps=self.settings.adam_eps_p)
        for k, m in self._modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in self._optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        saved, r = state.get("sampler_states") or [state["sampler_state"]], dist.rank()
        self.sampler.set_state(saved[r] if r < len(saved) else CropSampler.derived_state(saved[0], r))
        torch.set_rng_state(state["torch_rng"])
        c = state["counters"]
        self.step, self.epoch, self.step_in_epoch, self.wall_s = c["step"], c["epoch"], c["step_in_epoch"], c["wall_s"]
        self.split = None if state["split"] is None else tuple(np.array(s) for s in state["split"])


def read_run_file(run_dir: Path) -> dict:
    """``run_dir/run.json``, checked: a dict of the right format with a settings dict, a task and a list of
    path pairs. A missing, corrupt or hand-edited file is a :class:`RunError` naming what is wrong."""
    path = Path(run_dir) / RUN_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        raise RunError(f"{run_dir} is not a training run folder (no valid {RUN_FILE})") from None
    if not isinstance(info, dict) or info.get("format") != "refusion-run":
        raise RunError(f"{run_dir} is not a training run folder (no valid {RUN_FILE})")
    pairs = info.get("pairs")
    problems = [
        "no settings" if not isinstance(info.get("settings"), dict) else None,
        f"unknown task {info.get('task')!r}" if info.get("task") not in TASKS else None,
        "no list of pairs" if not isinstance(pairs, list) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs) else None,
    ]
    problems = [p for p in problems if p]
    if problems:
        raise RunError(f"{path} cannot be used ({'; '.join(problems)}); was it edited?")
    return info
