"""Training on several processes (torch.distributed, gloo on the CPU) is training on their concatenated batches.

The ranks are started the way torchrun starts them: this file, run as a script (``python test_distributed.py
WORKER OUT ...``), in two subprocesses with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (a free
port) set; :func:`refusion_core.training.distributed.setup` reads them. Every launch has a time limit (and the
process group a collective timeout), so that a hang fails the test instead of blocking CI. One thread per process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, run_all

WORLD = 2
LAUNCH_TIMEOUT_S = 300
INNER_LR = 0.5  # large, so that the second-order term stands far above float64 round-off (as in test_meta)


# ----- launching ranks ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(worker: str, *args, world: int = WORLD, timeout: float = LAUNCH_TIMEOUT_S) -> None:
    """Run ``worker`` of this file on ``world`` ranks; fail (killing them all) past ``timeout`` or on an error."""
    port = free_port()
    procs = []
    for r in range(world):
        env = {**os.environ, "RANK": str(r), "WORLD_SIZE": str(world), "LOCAL_RANK": str(r),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}  # tests.*
        procs.append(subprocess.Popen([sys.executable, __file__, worker, *map(str, args)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + timeout
    try:
        outputs = [p.communicate(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"{worker} on {world} ranks did not finish within {timeout:.0f} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for r, (p, (_, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"rank {r} of {worker} failed:\n{err[-4000:]}"


# ----- (a) one step on two ranks = one step on the concatenated batch --------------------------------------------
def tiny_models():
    """F, R, P (float64, small) and the trainer's optimisers (Adam; P's ε as the trainer's)."""
    from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet

    torch.manual_seed(0)
    f, r, p = FusionNet(8, 2), ReconstructionNet(8, 2), LossProposalNet(8, 2, zero_init=False)
    for m in (f, r, p):
        m.to(torch.float64)
    opts = (torch.optim.Adam(f.parameters(), lr=1e-3), torch.optim.Adam(r.parameters(), lr=1e-3),
            torch.optim.Adam(p.parameters(), lr=1e-3, eps=1e-12))
    return (f, r, p), opts


def rank_batches():
    """Per rank: (plain, meta-train, meta-test) batches of 2 crops of 16², each rank its own."""
    from refusion_core.training.meta import Batch

    g = torch.Generator().manual_seed(1)
    mk = lambda: Batch(torch.rand(2, 1, 16, 16, generator=g, dtype=torch.float64),
                       torch.rand(2, 1, 16, 16, generator=g, dtype=torch.float64))
    return [(mk(), mk(), mk()) for _ in range(WORLD)]


def cat(batches):
    from refusion_core.training.meta import Batch

    return Batch(torch.cat([b.ia for b in batches]), torch.cat([b.ib for b in batches]))


def plain_then_meta(gradient: str, plain, train, test) -> dict[str, torch.Tensor]:
    """One plain step of F and R, then one meta step of P; the parameters of F, R, P after them and the
    gradients each optimiser stepped with."""
    from refusion_core.training.meta import fuse_recon_step, meta_gradient, meta_gradient_hvp, meta_step

    (f, r, p), (opt_f, opt_r, opt_p) = tiny_models()
    fuse_recon_step(f, r, p, opt_f, opt_r, plain)
    out = {f"grad.{n}.{k}": q.grad.clone() for n, m in (("f", f), ("r", r)) for k, q in m.named_parameters()}
    grad_fn = {"reference": meta_gradient, "hvp": meta_gradient_hvp}[gradient]
    meta_step(f, r, p, opt_p, train, test, INNER_LR, gradient=grad_fn)
    out.update({f"grad.p.{k}": q.grad.clone() for k, q in p.named_parameters()})
    out.update({f"{n}.{k}": v.clone() for n, m in (("f", f), ("r", r), ("p", p)) for k, v in m.state_dict().items()})
    return out


def worker_steps(out: str) -> None:
    from refusion_core.training import distributed as dist

    torch.set_num_threads(1)
    dist.setup("cpu", timeout_s=120)
    try:
        mine = rank_batches()[dist.rank()]
        for gradient in ("reference", "hvp"):
            torch.save(plain_then_meta(gradient, *mine), Path(out) / f"{gradient}-{dist.rank()}.pt")
    finally:
        dist.teardown()


@pytest.mark.slow
def test_a_step_on_two_ranks_is_a_step_on_their_concatenated_batches(tmp_path):
    """Plain step: the mean of the ranks' mean-loss gradients is the gradient of the mean over [x; y]. Meta step:
    the inner gradient is averaged inside the graph and P's gradient averaged, so that F', R' and ∂Lr/∂θP are
    those of [x; y] (both meta-gradients: the reference second-order one and the HVP one)."""
    torch.set_num_threads(1)
    launch("steps", tmp_path)
    per_rank = rank_batches()
    whole = [cat([b[i] for b in per_rank]) for i in range(3)]
    for gradient in ("reference", "hvp"):
        single = plain_then_meta(gradient, *whole)
        ranks = [torch.load(tmp_path / f"{gradient}-{r}.pt") for r in range(WORLD)]
        assert ranks[0].keys() == ranks[1].keys() == single.keys()
        for k, v in single.items():
            assert torch.equal(ranks[0][k], ranks[1][k]), f"{gradient}: the ranks disagree on {k}"
            scale = max(float(v.abs().max()), 1e-30)  # P's meta-gradient is small: compare relative to its size
            torch.testing.assert_close(ranks[0][k], v, rtol=1e-9, atol=1e-10 * scale, msg=f"{gradient}: {k}")
        moved = [k for k in single if k.startswith("p.") and not torch.equal(single[k], tiny_state()[k])]
        assert moved, "the meta step did not move P"
        # a rank's own batch alone gives another step: the comparison above can tell them apart
        alone = plain_then_meta(gradient, *per_rank[0])
        assert any(not torch.allclose(alone[k], single[k], rtol=1e-6, atol=0) for k in single if "grad.p." in k)


def tiny_state() -> dict[str, torch.Tensor]:
    (f, r, p), _ = tiny_models()
    return {f"{n}.{k}": v for n, m in (("f", f), ("r", r), ("p", p)) for k, v in m.state_dict().items()}


# ----- (b) stop and resume on two ranks; resume with another number of ranks ----------------------------------------
def tiny_settings(**kw):
    from refusion_core.training.settings import TrainSettings

    base = dict(epochs=2, meta_steps=2, fuse_steps=3, crop=16, batch=1, preview_every=2, checkpoint_every=100,
                preview_size=24, lr_f=1e-3, lr_r=1e-3, lr_p=1e-3, inner_lr=0.1, seed=3)
    return TrainSettings(**{**base, **kw})


def state_of(trainer) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.clone() for n, m in trainer._modules().items() for k, v in m.state_dict().items()}


def worker_resume(out: str, dir_a: str, dir_b: str) -> None:
    """Straight 2-rank run; the same stopped at step 4 and resumed; a 1-process run stopped at step 4 (made by
    the test) resumed on 2 ranks; a 2-rank run stopped at step 4 and left for a 1-process resume."""
    from refusion_core.training import distributed as dist
    from refusion_core.training.data import pairs_from_dirs
    from refusion_core.training.trainer import Trainer

    torch.set_num_threads(1)
    dist.setup("cpu", timeout_s=120)
    try:
        out, r, pairs, s = Path(out), dist.rank(), pairs_from_dirs(dir_a, dir_b), tiny_settings()
        straight = Trainer(s, pairs, out / "straight", device="cpu")
        first_state = straight.sampler.state
        events = run_all(straight)
        first = Trainer(s, pairs, out / "split", device="cpu")
        assert run_all(first, stop_after=4)[-1].kind == "stopped" and first.step == 4
        second = Trainer.resume(out / "split", device="cpu")
        assert second.step == 4
        run_all(second)
        grown = Trainer.resume(out / "single", device="cpu")  # saved by one process
        grown_step = grown.step
        run_all(grown)
        run_all(Trainer(s, pairs, out / "to-shrink", device="cpu"), stop_after=4)
        torch.save({"straight": state_of(straight), "resumed": state_of(second), "grown": state_of(grown),
                    "grown_step": grown_step, "first_sampler_state": first_state,
                    "kinds": [e.kind for e in events]}, out / f"rank{r}.pt")
    finally:
        dist.teardown()


@pytest.mark.slow
def test_two_ranks_stopped_and_resumed_match_an_uninterrupted_run(pair_dirs, tmp_path):
    from refusion_core.training.data import pairs_from_dirs
    from refusion_core.training.trainer import CKPT_FILE, MODEL_FILE, Trainer

    torch.set_num_threads(1)
    single = Trainer(tiny_settings(), pairs_from_dirs(*pair_dirs), tmp_path / "single", device="cpu")
    assert run_all(single, stop_after=4)[-1].kind == "stopped"
    launch("resume", tmp_path, *pair_dirs)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    straight, resumed = ranks[0]["straight"], ranks[0]["resumed"]
    for k in straight:
        assert torch.equal(ranks[0]["straight"][k], ranks[1]["straight"][k]), f"the ranks disagree on {k}"
        torch.testing.assert_close(resumed[k], straight[k], rtol=1e-6, atol=1e-7, msg=f"resumed run differs: {k}")
    assert ranks[0]["first_sampler_state"] != ranks[1]["first_sampler_state"]  # each rank draws its own crops
    assert "preview" in ranks[0]["kinds"] and "preview" not in ranks[1]["kinds"]  # previews on rank 0 only
    assert ranks[0]["kinds"][-1] == ranks[1]["kinds"][-1] == "done"
    for run in ("straight", "split", "to-shrink"):
        assert (tmp_path / run / CKPT_FILE).is_file() and (tmp_path / run / MODEL_FILE).is_file()
    # a 1-process checkpoint went on with 2 ranks from its step; a 2-rank one goes on with 1 process from its step
    assert ranks[0]["grown_step"] == ranks[1]["grown_step"] == 4
    saved = torch.load(tmp_path / "to-shrink" / CKPT_FILE, weights_only=True)
    assert len(saved["sampler_states"]) == WORLD and saved["counters"]["step"] == 4
    shrunk = Trainer.resume(tmp_path / "to-shrink", device="cpu")
    assert shrunk.step == 4 and shrunk.sampler.state == saved["sampler_states"][0]
    assert run_all(shrunk)[-1].kind == "done" and shrunk.step == shrunk.total_steps


# ----- the command line --------------------------------------------------------------------------------------------
def test_distributed_without_torchrun_is_a_one_line_error(pair_dirs, tmp_path, monkeypatch, capsys):
    from refusion_core.cli.main import main

    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    code = main(["train", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--out", str(tmp_path / "run"),
                 "--device", "cpu", "--distributed"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "torchrun" in err[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_torchrun_trains_with_the_cli_on_two_processes(pair_dirs, tmp_path):
    from refusion_core.models.checkpoint import load_model

    def torchrun(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(WORLD),
               "-m", "refusion_core.cli", *args, "--device", "cpu", "--distributed"]
        proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                              timeout=LAUNCH_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc

    run = tmp_path / "run"
    proc = torchrun("train", "--task", "mfif", "--pairs", *map(str, pair_dirs), "--out", str(run), "--epochs", "1",
                    "--meta-steps", "1", "--fuse-steps", "2", "--crop", "16", "--batch", "1")
    assert proc.stdout.count("done:") == 1  # rank 0 alone reports
    assert load_model(run / "model.safetensors", "mfif").meta["provenance"]["processes"] == WORLD
    proc = torchrun("resume", str(run))  # a finished run: nothing left to do, on both ranks
    assert proc.stderr.count("resuming") == 1 and "at step 3 of 3" in proc.stderr


if __name__ == "__main__":  # a rank, started by launch()
    {"steps": worker_steps, "resume": worker_resume}[sys.argv[1]](*sys.argv[2:])
