"""The trainer: events, pause/stop between steps, atomic checkpoints, exact resume, ablation switches."""

import threading

import numpy as np
import pytest
import torch

from refusion_core.errors import RunError
from refusion_core.training.data import pairs_from_dirs
from refusion_core.training.settings import TrainSettings
from refusion_core.training.trainer import CKPT_FILE, MODEL_FILE, RUN_FILE, Trainer
from tests.conftest import run_all


def tiny_settings(**kw):
    base = dict(epochs=2, meta_steps=2, fuse_steps=3, crop=24, batch=2, preview_every=2,
                checkpoint_every=4, preview_size=32, lr_f=1e-3, lr_r=1e-3, lr_p=1e-3, inner_lr=0.1)
    return TrainSettings(**{**base, **kw})


@pytest.fixture
def pairs(pair_dirs):
    return pairs_from_dirs(*pair_dirs)


def test_events_cover_a_whole_run(pairs, tmp_path):
    tr = Trainer(tiny_settings(), pairs, tmp_path / "run", device="cpu")
    events = run_all(tr)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, 11))
    assert [e.stage for e in steps[:5]] == ["meta", "meta", "fuse", "fuse", "fuse"]
    assert all(e.outer_lr is not None for e in steps if e.stage == "meta")
    assert all(np.isfinite([e.lf, e.lr]).all() and e.steps_per_s > 0 and e.eta_s >= 0 for e in steps)
    previews = [e for e in events if e.kind == "preview"]
    assert len(previews) == 5
    m = previews[-1].maps
    assert set(m) == {"wa", "wb", "va", "vb"} and m["wa"].dtype == np.float32
    np.testing.assert_allclose(m["wa"] + m["wb"], 1, atol=1e-6)
    assert isinstance(previews[-1].fused, np.ndarray)
    assert "checkpoint" in kinds
    for f in (RUN_FILE, CKPT_FILE, MODEL_FILE):
        assert (tmp_path / "run" / f).is_file()
    assert not list((tmp_path / "run").glob("*.part"))


def test_meta_train_and_meta_test_are_disjoint(pairs, tmp_path):
    tr = Trainer(tiny_settings(), pairs, tmp_path / "run", device="cpu")
    for _ in range(3):
        tr_idx, te_idx = tr.sampler.split()
        assert not set(tr_idx) & set(te_idx)
        assert set(tr_idx) | set(te_idx) == set(range(len(pairs)))


def state_of(tr):
    return {f"{name}.{k}": v.clone() for name, m in tr._modules().items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_stop_and_resume_is_exact(pairs, tmp_path, schedule):
    torch.set_num_threads(1)
    s = tiny_settings(checkpoint_every=100, lr_schedule=schedule, warmup_steps=3)
    straight = Trainer(s, pairs, tmp_path / "straight", device="cpu")
    run_all(straight)
    first = Trainer(s, pairs, tmp_path / "split", device="cpu")
    events = run_all(first, stop_after=4)  # stop inside epoch 0, in its fusion phase
    assert events[-1].kind == "stopped" and first.step == 4
    second = Trainer.resume(tmp_path / "split", device="cpu")
    assert second.step == 4
    run_all(second)
    a, b = state_of(straight), state_of(second)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs from the straight run"


def test_a_run_of_an_earlier_proposal_design_resumes_with_its_own_p(pairs, tmp_path):
    """A run begun with P refusion-p-2 (before p-3 became the default) resumes as p-2, exactly."""
    from refusion_core.models import LossProposalNet
    from refusion_core.models.checkpoint import new_bundle

    torch.set_num_threads(1)
    s = tiny_settings(checkpoint_every=100)
    init = new_bundle("ivif", seed=0)
    init.proposal = LossProposalNet(prior=False)
    straight = Trainer(s, pairs, tmp_path / "straight", init=init, device="cpu")
    run_all(straight)
    first = Trainer(s, pairs, tmp_path / "split", init=init, device="cpu")
    run_all(first, stop_after=4)
    second = Trainer.resume(tmp_path / "split", device="cpu")
    assert second.proposal.arch_version == "refusion-p-2" and second.step == 4
    run_all(second)
    a, b = state_of(straight), state_of(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    s = tiny_settings(epochs=4, lr_schedule="cosine", warmup_steps=5)  # 20 steps
    k = [s.lr_factor(i) for i in range(s.total_steps)]
    assert k[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert k[5] == 1.0 and all(x > y for x, y in zip(k[5:], k[6:]))  # then strictly falling
    assert 0 < k[-1] < 0.02  # ends near 0
    assert {tiny_settings().lr_factor(i) for i in range(10)} == {1.0}  # the paper's constant rate
    with pytest.raises(ValueError):
        tiny_settings(lr_schedule="step")


def test_trainer_sets_the_scheduled_learning_rates(pairs, tmp_path):
    s = tiny_settings(epochs=1, lr_schedule="cosine", warmup_steps=2, lr_f=2e-3, lr_p=1e-3)
    tr = Trainer(s, pairs, tmp_path / "run", device="cpu")
    seen = []
    for ev in tr.run():
        if ev.kind == "step":
            seen.append((tr.opt_f.param_groups[0]["lr"], tr.opt_p.param_groups[0]["lr"]))
    expected = [(2e-3 * s.lr_factor(i), 1e-3 * s.lr_factor(i)) for i in range(s.total_steps)]
    assert len(seen) == len(expected)
    # pytest.approx takes flat sequences only (pytest 9 rejects a list of tuples): compare F's and P's rates apart
    assert [f for f, _ in seen] == pytest.approx([f for f, _ in expected])
    assert [p for _, p in seen] == pytest.approx([p for _, p in expected])
    assert seen[0][0] == pytest.approx(1e-3) and seen[-1][0] < seen[2][0]


def test_pause_and_resume_between_steps(pairs, tmp_path):
    tr = Trainer(tiny_settings(epochs=1), pairs, tmp_path / "run", device="cpu")
    gen = tr.run()
    assert next(gen).kind == "start"
    assert next(gen).kind == "step"
    tr.request_pause()
    ev = next(gen)
    while ev.kind != "paused":
        ev = next(gen)
    step_at_pause = tr.step
    threading.Timer(0.2, tr.request_resume).start()
    ev = next(gen)  # blocks until resumed
    assert ev.kind == "resumed" and tr.step == step_at_pause
    tr.request_stop()
    assert [e.kind for e in gen][-1] == "stopped"


def test_stop_while_paused(pairs, tmp_path):
    tr = Trainer(tiny_settings(epochs=1), pairs, tmp_path / "run", device="cpu")
    gen = tr.run()
    next(gen)
    tr.request_pause()
    assert next(gen).kind == "paused"
    threading.Timer(0.1, tr.request_stop).start()
    assert [e.kind for e in gen] == ["stopped"]


@pytest.mark.parametrize("ablation", ["I", "II", "III", "IV", "V"])
def test_ablation_switches(pairs, tmp_path, ablation):
    tr = Trainer(tiny_settings(epochs=1, ablation=ablation), pairs, tmp_path / "run", device="cpu")
    p0 = {k: v.clone() for k, v in tr.proposal.state_dict().items()}
    f0 = {k: v.clone() for k, v in tr.fusion.state_dict().items()}
    events = run_all(tr)
    stages = {e.stage for e in events if e.kind == "step"}
    p_moved = any(not torch.equal(p0[k], v) for k, v in tr.proposal.state_dict().items())
    f_moved = any(not torch.equal(f0[k], v) for k, v in tr.fusion.state_dict().items())
    expected_stages = {"I": {"fuse"}, "II": {"fuse"}, "III": {"meta"}, "IV": {"meta", "fuse"}, "V": {"fuse"}}
    assert stages == expected_stages[ablation]
    assert p_moved == (ablation != "I")  # with the meta step disabled and maps fixed, P never changes
    assert f_moved == (ablation != "V")


def test_resume_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="not a training run"):
        Trainer.resume(tmp_path)


def test_large_training_images_are_downscaled(tmp_path):
    from refusion_core.io.images import write_image
    from refusion_core.training.data import load_luminance_pair

    big = (np.random.default_rng(0).random((300, 500)) * 255).astype(np.uint8)
    pa, pb = write_image(tmp_path / "a.png", big), write_image(tmp_path / "b.png", 255 - big)
    ya, yb = load_luminance_pair(pa, pb, max_side=100)
    assert ya.shape == yb.shape == (60, 100)
    assert load_luminance_pair(pa, pb)[0].shape == (300, 500)


def test_both_meta_gradients_train_alike(pairs, tmp_path):
    """The trainer's default HVP meta-gradient and the reference one give the same P (float32 round-off)."""
    results = []
    for mode in ("hvp", "reference"):
        tr = Trainer(tiny_settings(epochs=1, fuse_steps=0, meta_gradient=mode), pairs, tmp_path / mode, device="cpu")
        run_all(tr)
        results.append({k: v.clone() for k, v in tr.proposal.state_dict().items()})
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError):
        TrainSettings(meta_gradient="magic")


def test_a_bundle_passed_as_init_is_not_trained_in_place(pairs, tmp_path):
    from refusion_core.models.checkpoint import new_bundle

    b = new_bundle("ivif", seed=1)
    before = {k: v.clone() for k, v in b.fusion.state_dict().items()}
    run_all(Trainer(tiny_settings(epochs=1, meta_steps=0), pairs, tmp_path / "run", init=b, device="cpu"))
    assert all(torch.equal(before[k], v) for k, v in b.fusion.state_dict().items())


def test_hvp_falls_back_to_the_reference_gradient_without_forward_ad(pairs, tmp_path, monkeypatch):
    """A frozen build may lack the sources forward-mode AD needs; training must still run."""
    import refusion_core.training.trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "_FORWARD_AD", False)
    calls = []
    real = trainer_mod.meta_gradient
    monkeypatch.setattr(trainer_mod, "meta_gradient", lambda *a, **k: calls.append(1) or real(*a, **k))
    tr = Trainer(tiny_settings(epochs=1, meta_steps=1, fuse_steps=0), pairs, tmp_path / "run", device="cpu")
    assert run_all(tr)[-1].kind == "done" and calls == [1]


def test_meta_batch_sets_the_crops_of_each_meta_batch(pairs, tmp_path, monkeypatch):
    """--meta-batch: meta-train and meta-test batches of meta_batch crops; the plain steps keep batch."""
    import refusion_core.training.trainer as trainer_module

    sizes = {"meta": [], "fuse": []}
    real_meta_step, real_fuse_step = trainer_module.meta_step, trainer_module.fuse_recon_step

    def meta_step(fusion, recon, proposal, opt_p, train, test, *args, **kw):
        sizes["meta"].append((train.ia.shape[0], test.ib.shape[0]))
        return real_meta_step(fusion, recon, proposal, opt_p, train, test, *args, **kw)

    def fuse_step(fusion, recon, proposal, opt_f, opt_r, batch, *args, **kw):
        sizes["fuse"].append(batch.ia.shape[0])
        return real_fuse_step(fusion, recon, proposal, opt_f, opt_r, batch, *args, **kw)

    monkeypatch.setattr(trainer_module, "meta_step", meta_step)
    monkeypatch.setattr(trainer_module, "fuse_recon_step", fuse_step)
    run_all(Trainer(tiny_settings(epochs=1, meta_batch=3), pairs, tmp_path / "run", device="cpu"))
    assert sizes == {"meta": [(3, 3), (3, 3)], "fuse": [2, 2, 2]}
    with pytest.raises(ValueError, match="meta_batch"):
        tiny_settings(meta_batch=0)


class _Payload:
    """Unpickling this runs code: it writes a file (a crafted checkpoint.pt in a shared run folder)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_runs_no_code_from_a_crafted_checkpoint(pairs, tmp_path):
    run = tmp_path / "run"
    tr = Trainer(tiny_settings(epochs=1), pairs, run, device="cpu")
    run_all(tr)
    marker = tmp_path / "pwned"
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["counters"]["payload"] = _Payload(marker)
    torch.save(state, run / "checkpoint.pt")
    with pytest.raises(RunError, match="Cannot read checkpoint"):
        Trainer.resume(run, device="cpu")
    assert not marker.exists()  # weights_only refused the object: nothing ran


@pytest.mark.parametrize("ablation", [None, "I", "II", "III", "IV", "V"])
def test_the_cosine_schedule_ends_near_zero_under_every_ablation(pairs, tmp_path, ablation):
    """One owner of the run's length: the trainer's steps and the schedule's span agree, whatever phase an
    ablation skips (the schedule once counted the skipped phase and ended far above 0)."""
    s = TrainSettings.preset("cpu-refine", ablation=ablation)
    m, n = s.phase_steps
    assert s.total_steps == s.epochs * (m + n) and m + n > 0
    assert s.lr_factor(s.total_steps - 1) < 0.01 and s.lr_factor(s.total_steps // 2) > 0.4
    tr = Trainer(tiny_settings(epochs=1, lr_schedule="cosine", warmup_steps=1, ablation=ablation), pairs,
                 tmp_path / "run", device="cpu")
    rates = [tr.opt_f.param_groups[0]["lr"] for ev in tr.run() if ev.kind == "step"]
    assert len(rates) == tr.total_steps == tr.settings.total_steps
    assert rates == pytest.approx([1e-3 * tr.settings.lr_factor(i) for i in range(len(rates))])
    assert rates[-1] == min(rates) and tr.settings.lr_factor(tr.total_steps) == 0.0  # the cosine ends with the run


def test_a_run_folder_trains_one_trainer_at_a_time_and_loses_its_stale_parts(pairs, tmp_path):
    import os
    run = tmp_path / "run"
    run.mkdir()
    stale = run / ".checkpoint.pt.abc123.part"  # what a kill during an atomic write leaves
    stale.write_bytes(b"half a checkpoint")
    first = Trainer(tiny_settings(epochs=1), pairs, run, device="cpu").run()
    assert next(first).kind == "start"
    assert not stale.exists()
    second = Trainer(tiny_settings(epochs=1), pairs, run, device="cpu")
    with pytest.raises(RunError, match=f"already being trained by process {os.getpid()}"):
        next(second.run())
    for _ in first:  # the first finishes and lets go of the folder
        pass
    assert [ev.kind for ev in second.run()][-1] == "done"


@pytest.mark.parametrize("fixed_w", [False, True])
def test_fixed_w_holds_w_at_a_half_and_still_learns_v(pairs, tmp_path, fixed_w):
    """TrainSettings.fixed_w: whatever P starts from, its w maps are ½ at every pixel through the run (previews
    and the model saved), while the meta step goes on moving v; without it the same start keeps its w."""
    from refusion_core.models.checkpoint import load_model, new_bundle

    torch.manual_seed(1)
    init = new_bundle("mfif", seed=0)
    with torch.no_grad():  # a P with content-dependent w and v maps from the start
        for prm in init.proposal.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    tr = Trainer(tiny_settings(epochs=1, fixed_w=fixed_w), pairs, tmp_path / "run", init=init, device="cpu")
    v0 = tr.proposal.project_out.weight[1].clone()
    events = run_all(tr)
    previews = [e for e in events if e.kind == "preview"]
    assert previews
    ia, ib = tr.preview
    saved = load_model(tmp_path / "run" / MODEL_FILE, "mfif").proposal
    with torch.no_grad():
        maps = saved(ia, ib)
    held = all(np.all(e.maps["wa"] == 0.5) for e in previews) and torch.all(maps[:, 0] == 0.5)
    assert held == fixed_w
    assert float(maps[:, 2].std()) > 1e-3  # v is content-dependent in both cases
    assert not torch.equal(v0, tr.proposal.project_out.weight[1])  # and the meta step moved it


def test_tie_w_makes_w_follow_v_through_the_run(pairs, tmp_path):
    """TrainSettings.tie_w = 1: whatever P starts from, its w maps equal its v maps at every pixel through the run
    (previews and the saved model) while the meta step moves v; tie_w with fixed_w, or below 0, is refused."""
    from refusion_core.models.checkpoint import load_model, new_bundle

    torch.manual_seed(2)
    init = new_bundle("mfif", seed=0)
    with torch.no_grad():  # a P with w and v maps that differ from the start
        for prm in init.proposal.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    tr = Trainer(tiny_settings(epochs=1, tie_w=1.0), pairs, tmp_path / "run", init=init, device="cpu")
    v0 = tr.proposal.project_out.weight[1].clone()
    previews = [e for e in run_all(tr) if e.kind == "preview"]
    assert previews and all(np.allclose(e.maps["wa"], e.maps["va"], atol=1e-6) for e in previews)
    ia, ib = tr.preview
    with torch.no_grad():
        maps = load_model(tmp_path / "run" / MODEL_FILE, "mfif").proposal(ia, ib)
    torch.testing.assert_close(maps[:, :2], maps[:, 2:])
    assert float(maps[:, 0].std()) > 1e-3  # w is content-dependent: it is v, not ½
    assert not torch.equal(v0, tr.proposal.project_out.weight[1])
    for bad in (dict(tie_w=1.0, fixed_w=True), dict(tie_w=-1.0)):
        with pytest.raises(ValueError):
            tiny_settings(**bad)
