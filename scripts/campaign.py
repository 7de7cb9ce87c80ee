"""The quality campaign (issue 13): train the default models in stages that accumulate across machines.

Each task's campaign lives in ``campaign/<task>/`` and is committed after every stage:

- ``plan.json``: the schedule (TrainSettings), the hold-out size, what the run started from;
- ``state.pt``: the trainer's checkpoint (F, R, P, their Adam moments, the RNG states and the counters; about
  1 MB, loaded with ``weights_only=True``), so that the next stage goes on exactly where this one stopped,
  on any machine;
- ``stages.json``: one record per stage: steps, wall and CPU time, threads, hardware, date, and the hold-out
  figures of the campaign model, of the shipped default and of the Laplacian pyramid after that stage.

Training reads only the train split of ``../shared/datasets``; the ``holdout`` pairs of it (spread evenly,
:func:`refusion_core.training.data.holdout`) are never trained on and decide whether a stage's model replaces the
default (``ship``: better than the default on at least 4 of the task's 6 paper metrics on the hold-out).

    python scripts/campaign.py init  --tasks mfif ivif              # write plan.json (see PLANS)
    python scripts/campaign.py stage --tasks mfif ivif --minutes 90 # one stage, tasks in parallel
    python scripts/campaign.py eval  --tasks mfif ivif              # hold-out table, recorded in stages.json
    python scripts/campaign.py ship  --tasks mfif                   # replace the default if the hold-out says so
    python scripts/campaign.py compare --tasks mfif --candidates plan paper-ratio crop-64 --minutes 40 --slices 4
                                       # quality per CPU hour of candidate schedules, on the hold-out; each
                                       # candidate's best slice is kept (runs/compare/<task>/<name>/best/)
    python scripts/campaign.py adopt --tasks mfif --candidate plan  # that best slice becomes the campaign's state

``stage`` runs each task in its own process with ``--threads`` torch threads (default 1: on a 2-core machine
two tasks at once use the cores better than one task on two threads) and stops each at ``--minutes``,
between steps, writing the state; SIGTERM or Ctrl-C stops it the same way earlier, keeping what it did.

On a machine with a CUDA GPU, ``stage --schedule paper --device auto`` trains all four tasks at once (four
processes sharing the GPU) with the paper's schedule (50 × (600 + 1600) steps at 128², Adam at 1e-4) under
bf16 autocast, continuing the same committed state; then ``eval`` and ``ship`` as on the CPU, and
``python scripts/train_defaults.py --cards-only`` writes the cards. Without a usable GPU, ``--schedule paper``
falls back to each task's CPU plan and says so (tests/scripts/test_campaign.py). Choice: autocast covers the
meta step too; its second-order term is small but bf16 keeps float32's exponent range, so it does not underflow.
Compiling the steps (torch.compile) is not done yet: the meta step's forward-mode product and create_graph
need measuring on a GPU first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from refusion_core.training.data import BENCHMARK_SETS as SETS  # noqa: E402

CAMPAIGN = REPO / "campaign"
RUNS = REPO / "runs" / "campaign"
HOLDOUT = 16

PAPER = dict(epochs=50, meta_steps=600, fuse_steps=1600, crop=128, batch=4, lr_f=1e-4, lr_r=1e-4, lr_p=1e-4,
             checkpoint_every=500, gradient_scale=8.0)  # PAPER.md, Algorithm 1's settings (∇: the plain Sobel); GPU only

# Stage-1 schedule, chosen from the diagnostic (refusion_core/training/meta_signal.py), not yet from quality-per-CPU-hour
# curves: F and R continue from the shipped default (hundreds to thousands of steps of training), P starts fresh
# as the swap-equivariant refusion-p-2, so the meta share is raised above the paper's 600:1600 (27 %) to 40 %
# while P learns; crop 96, batch 4; Adam at 2e-4 for F and R (they are trained already) and 1e-3 for P (on
# synthetic batches 60 such steps moved v by 0.07 toward the right source); constant rates, as the paper, so
# that stages can be chained without a schedule length. Epochs are many: a stage stops on time, not on epochs.
PLANS = {
    task: {"settings": dict(epochs=10_000, meta_steps=40, fuse_steps=60, crop=96, batch=4, lr_f=2e-4, lr_r=2e-4,
                            lr_p=1e-3, checkpoint_every=100, preview_every=10_000, seed=0,
                            gradient_scale=8.0),  # the plain Sobel in the losses (TrainSettings; new plans only)
           "init": f"resources/weights/{task}.safetensors", "init_modules": ["fusion", "reconstruction"],
           "holdout": HOLDOUT}
    for task in SETS
}
# Multi-focus, restarted on 2026-12-04 from random F, R and P refusion-p-3. Why: after two stages from the shipped
# default (1,102 steps) P's focus map had not grown (v over the sharp half 0.513 -> 0.509), and the diagnostic at
# that F and R found the per-pixel signal gone (|z| < 0.6 over 40 draws) and a fresh P barely moved by it, while
# with a fresh F and R it points to the sharp source and refusion-p-3 follows it in tens of steps
# (docs/BENCHMARKS.md, "Is P's signal right?"). So P learns its map while F is young, and F learns on that map.
# F and R at 5e-4, the rate that trained the earlier defaults from scratch.
PLANS["mfif"] = {**PLANS["mfif"], "init": None, "init_modules": [], "proposal": "refusion-p-3",
                 "settings": {**PLANS["mfif"]["settings"], "lr_f": 5e-4, "lr_r": 5e-4}}
# Multi-exposure and medical, begun 2026-12-04 from the shipped defaults' F and R with a fresh P refusion-p-3: on
# infrared-visible that start (campaign.py compare's fresh-p3 candidate) beat the shipped default on 6 of 6 paper
# metrics on the hold-out after 50 minutes, where two hours more of the old P (refusion-p-2) lost 4 of 6. P-3's
# features (local gradient energy, local mean, distance from mid-grey) are the ones an exposure map needs.
# Stage 1 (85 min, ~620 steps each) lost on the hold-out (meif 3/6 with a worse shadow map, mif 0/6) and was not
# shipped; meif's state is committed, to continue or to reset. mif went on losing (stage 2, 0/6), was reset, and the
# same start run as `compare` slices of 10 CPU minutes won 5/6 after 729 steps and was shipped: the good models sit
# early in P's training (docs/BENCHMARKS.md, the reconstruction probe), so choose them slice by slice on the hold-out.
for _task in ("meif", "mif"):
    PLANS[_task] = {**PLANS[_task], "proposal": "refusion-p-3"}


def shared_manifest() -> Path:
    from refusion_core.paths import shared_dir
    shared = shared_dir()
    if shared is None:
        raise SystemExit("campaign: ../shared (the data sets) is not beside the checkout")
    return shared / "datasets" / "manifest.json"


def split_pairs(task: str, holdout_n: int):
    """(training pairs, hold-out pairs) of the task's train split."""
    from refusion_core.training.data import holdout, pairs_from_manifest
    return holdout(pairs_from_manifest(shared_manifest(), SETS[task], "train"), holdout_n)


def read_json(path: Path, default=None):
    return json.loads(path.read_text()) if path.exists() else default


def write_json(path: Path, data) -> None:
    from refusion_core.io.images import atomic_write_bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def init(task: str) -> None:
    plan_file = CAMPAIGN / task / "plan.json"
    if plan_file.exists():
        print(f"campaign: {plan_file} exists; keeping it")
        return
    write_json(plan_file, {"task": task, "set": SETS[task], **PLANS[task], "created": time.strftime("%Y-%m-%d")})
    print(f"campaign: wrote {plan_file}")


def set_root(root: Path) -> None:
    """Keep the campaign's files under ``root`` (campaign/ and runs/campaign/) instead of the repository."""
    global CAMPAIGN, RUNS
    CAMPAIGN, RUNS = root / "campaign", root / "runs" / "campaign"


def make_trainer(task: str, device: str, schedule: str = "plan", fresh_now: bool = False):
    """The task's trainer, from the committed state when there is one, else from the plan's init.
    ``schedule`` "paper" replaces the plan's settings by the paper's (PAPER). A plan's ``fresh_proposal`` replaces
    the state's P by a fresh one when the state's P is of another version, or always with ``fresh_now`` (compare
    does that once, at a candidate's start, so that a P of the same version can be restarted too)."""
    from refusion_core.models import LossProposalNet
    from refusion_core.models.checkpoint import load_model
    from refusion_core.training.settings import LEGACY_GRADIENT_SCALE, TrainSettings
    from refusion_core.training.trainer import Trainer

    plan = read_json(CAMPAIGN / task / "plan.json")
    if plan is None:
        raise SystemExit(f"campaign: no plan for {task}; run 'campaign.py init --tasks {task}' first")
    overrides = PAPER if schedule == "paper" else {}
    stored = {"gradient_scale": LEGACY_GRADIENT_SCALE, **plan["settings"]}  # plans from before the field
    settings = TrainSettings(**{**stored, **overrides}, preset_name=f"campaign-{task}-{schedule}")
    pairs, _ = split_pairs(task, plan["holdout"])
    if plan["init"] is None:  # random F, R and P (the trainer seeds them from the settings)
        trainer = Trainer(settings, pairs, RUNS / task, task, init=None, device=device)
    else:
        start = load_model(REPO / plan["init"], task)
        if "proposal" not in plan["init_modules"]:  # P fresh, of the plan's version (refusion-p-2 before p-3)
            start.proposal = LossProposalNet(prior=plan.get("proposal", "refusion-p-2") == "refusion-p-3")
        trainer = Trainer(settings, pairs, RUNS / task, task, init=start, device=device)
        trainer.init_source = plan["init"] + (" (F, R; P fresh)" if "proposal" not in plan["init_modules"] else "")
    state = CAMPAIGN / task / "state.pt"
    if state.exists():
        trainer.load_checkpoint(state)
    elif plan.get("proposal_from"):  # the start's P replaced by a trained one (once: the state holds it after)
        import torch

        from refusion_core.models.loss_proposal import proposal_for_state
        source = REPO / plan["proposal_from"]  # an absolute path stays itself
        p_state = torch.load(source, map_location="cpu", weights_only=True)
        p_state = p_state["modules"]["proposal"] if "modules" in p_state else p_state
        proposal = proposal_for_state(p_state)
        proposal.load_state_dict(p_state)
        replace_proposal(trainer, proposal)
        trainer.init_source = f"{trainer.init_source}; P from {plan['proposal_from']}"
    fresh = plan.get("fresh_proposal")  # a candidate: P replaced by a fresh one of this version, F and R kept
    if fresh and (fresh_now or set(trainer.proposal.state_dict())
                  != set(LossProposalNet(prior=fresh == "refusion-p-3").state_dict())):
        import torch
        with torch.random.fork_rng():  # once: the next slice's state already holds the new P
            torch.manual_seed(settings.seed)
            replace_proposal(trainer, LossProposalNet(prior=fresh == "refusion-p-3"))
        print(f"[{task}] P replaced by a fresh {fresh} (F and R from the state)", flush=True)
    return trainer


def replace_proposal(trainer, proposal) -> None:
    """Put ``proposal`` in the trainer's place of P (on its device, channels-last, training mode) with a new Adam."""
    import torch
    trainer.proposal = proposal.to(trainer.device, memory_format=torch.channels_last).train()
    trainer.opt_p = torch.optim.Adam(trainer.proposal.parameters(), lr=trainer.settings.lr_p,
                                     eps=trainer.settings.adam_eps_p)


def resolve_device_type(device: str) -> str:
    from refusion_core.devices import resolve_device
    return resolve_device(device).type


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def worker(task: str, minutes: float, device: str, schedule: str) -> int:
    """One stage of one task: train until ``minutes`` have passed, then save the state and the record."""
    import contextlib

    import torch
    if schedule == "paper" and resolve_device_type(device) != "cuda":
        print(f"[{task}] no usable CUDA GPU: the paper's schedule is GPU work; running the CPU plan instead", flush=True)
        schedule = "plan"
    trainer = make_trainer(task, device, schedule)
    for sig in (signal.SIGTERM, signal.SIGINT):  # stop between steps and keep the stage, as on time
        signal.signal(sig, lambda *_: trainer.request_stop())
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if trainer.device.type == "cuda" else contextlib.nullcontext()
    first, t0, c0 = trainer.step, time.monotonic(), cpu_seconds()
    last_print = t0
    with amp:  # the generator's steps run inside the context (autocast state is per thread)
        for ev in trainer.run():
            now = time.monotonic()
            if ev.kind == "step" and now - last_print > 60:
                print(f"[{task}] step {ev.step}  {ev.stage}  lf {ev.lf}  lr {ev.lr}  outer {ev.outer_lr}", flush=True)
                last_print = now
            if now - t0 > minutes * 60 and not trainer.stop_requested:
                trainer.request_stop()
    shutil.copyfile(RUNS / task / "checkpoint.pt", CAMPAIGN / task / "state.pt")
    stages = read_json(CAMPAIGN / task / "stages.json", [])
    stages.append({"stage": len(stages) + 1, "steps": [first, trainer.step], "wall_s": round(time.monotonic() - t0),
                   "cpu_s": round(cpu_seconds() - c0), "threads": __import__("torch").get_num_threads(),
                   "device": str(trainer.device), "schedule": schedule,
                   "settings": {k: getattr(trainer.settings, k) for k in ("meta_steps", "fuse_steps", "crop", "batch",
                                                                           "lr_f", "lr_r", "lr_p")},
                   "amp": "bf16" if trainer.device.type == "cuda" else None, "hardware": f"{platform.machine()}, {os.cpu_count()} cores",
                   "date": time.strftime("%Y-%m-%d %H:%M")})
    write_json(CAMPAIGN / task / "stages.json", stages)
    print(f"[{task}] stage {len(stages)}: steps {first} -> {trainer.step}; state in campaign/{task}/state.pt")
    return 0


def stage(tasks: list[str], minutes: float, threads: int, device: str, schedule: str) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    root = ["--root", str(CAMPAIGN.parent)]
    procs = [subprocess.Popen([sys.executable, __file__, "_worker", "--task", t, "--minutes", str(minutes),
                               "--device", device, "--schedule", schedule, *root], env=env) for t in tasks]

    def forward(sig, _frame):  # each worker stops between steps and writes its stage
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(p.wait() for p in procs)


def current_model(task: str) -> Path:
    """The campaign's model as a file (runs/campaign/<task>.safetensors), from the committed state."""
    trainer = make_trainer(task, "cpu")
    out = RUNS / f"{task}.safetensors"
    trainer.save_model(out)
    return out


def evaluate_holdout(task: str, references: bool = True, quiet: bool = False) -> dict:
    """The campaign model on the hold-out (and, with ``references``, the shipped default and the Laplacian
    pyramid); the means are recorded in the last stage's record."""
    from refusion_core.metrics.evaluation import baseline_method, evaluate, markdown_table, model_method
    plan = read_json(CAMPAIGN / task / "plan.json")
    _, val = split_pairs(task, plan["holdout"])
    methods = [model_method(current_model(task), task, "cpu", name="campaign")]
    if references:
        methods += [model_method(None, task, "cpu", name="default (shipped)"), baseline_method("laplacian")]
    res = evaluate(methods, val, task)
    if not quiet:
        print(markdown_table(res, res["paper_metrics"], reference="default (shipped)" if references else None))
    stages = read_json(CAMPAIGN / task / "stages.json", [])
    if stages:
        stages[-1]["holdout"] = {name: {n: round(m["mean"][n], 4) for n in res["paper_metrics"]}
                                 for name, m in res["methods"].items()}
        write_json(CAMPAIGN / task / "stages.json", stages)
    return res


def script(name: str):
    """Another script of scripts/ as a module (scripts/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAP_TASKS = ("mfif", "meif")  # the tasks scripts/check_maps.py has criteria for
# A task's structural metric, which a new default must not lose by more than STRUCTURAL_SLACK on the hold-out. Why:
# on meif a candidate won 4 of 6 paper metrics (SD 69 vs 50) with the right maps while MEF-SSIM fell 0.933 -> 0.779
# and Qabf 0.629 -> 0.306 (docs/BENCHMARKS.md): the paper-metric count rewards contrast that the field's structural
# measure penalises.
STRUCTURAL = {"meif": "MEF-SSIM"}
STRUCTURAL_SLACK = 0.02


def structure_kept(task: str, mean: dict, ref: dict) -> tuple[bool, str]:
    """Whether ``mean`` keeps the task's structural metric within STRUCTURAL_SLACK of ``ref`` (True where the task
    has none), and the figures."""
    name = STRUCTURAL.get(task)
    if name is None or name not in mean or name not in ref:
        return True, ""
    return mean[name] >= ref[name] - STRUCTURAL_SLACK, f"{name} {mean[name]:.3f} vs {ref[name]:.3f}"


DARK_PAIRS = 4  # hold-out pairs the dark check fuses, twice each, per model


def dark_reference(task: str, holdout_n: int) -> tuple[list, float]:
    """The pairs the dark check fuses (the first DARK_PAIRS hold-out pairs) and the shipped default's dark lift on
    them, read and measured once per command."""
    from refusion_core.training.data import load_luminance_pair
    _, val = split_pairs(task, holdout_n)
    pairs = [load_luminance_pair(pa, pb) for pa, pb in val[:DARK_PAIRS]]
    return pairs, _dark_lift(task, None, pairs)


def _dark_lift(task: str, path: Path | None, pairs: list) -> float:
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.fusing.stack import as_luminance_fuser
    from refusion_core.metrics.response import dark_lift_pairs
    from refusion_core.models.checkpoint import load_model
    return dark_lift_pairs(as_luminance_fuser(Fuser(load_model(path, task), "cpu")), pairs)


def dark_check(task: str, path: Path, reference: tuple[list, float]) -> tuple[bool, str]:
    """The dark lift (refusion_core.metrics.response) of the model at ``path`` on ``reference``'s pairs
    (:func:`dark_reference`), as (passes, the figures): it passes at DARK_LIMIT levels or less, or at no more than the
    shipped default's lift (a candidate is not held back for a lift it did not make worse). Why: RoadScene's train
    split has no dark regions, and the infrared–visible default of 2026-12-05 fused a darkened pair 80 levels too
    bright while winning the hold-out's paper metrics, which have no dark pairs either."""
    from refusion_core.metrics.response import DARK_LIMIT
    pairs, default = reference
    mine = _dark_lift(task, path, pairs)
    return mine <= max(DARK_LIMIT, default), f"dark lift {mine:.1f} levels (default {default:.1f})"


def maps_check(task: str, path: Path) -> tuple[bool, str]:
    """scripts/check_maps.py's criteria where the task has them (mfif, meif), as (passes, the figures)."""
    if task not in MAP_TASKS:
        return True, "no map criterion for this task"
    return script("check_maps").passes(task, path)


def target_checks(task: str, path: Path | None) -> dict[str, bool]:
    """Issue 13's targets that a check on synthetic data measures for the model at ``path`` (None: the shipped
    default), by name: for mfif, every quarter of the 4-frame focus stack keeping STACK_TARGET of the sharpest
    frame's detail (scripts/check_maps.py, tests/refusion_core/fusing/test_stack.py). Empty for the other tasks."""
    if task != "mfif":
        return {}
    from refusion_core.paths import default_weights_path
    maps = script("check_maps")
    return {"focus stack": bool(maps.stack_kept(path or default_weights_path(task)).min() >= maps.STACK_TARGET)}


def better_than_default(won: int, n: int, gain: float, targets: dict[str, bool],
                        default_targets: dict[str, bool]) -> tuple[bool, str]:
    """Whether the hold-out says a candidate is better than the shipped default, and why.

    Better: at least as good on 4 of the ``n`` = 6 paper metrics (``won``). A tie, 3 of 6, is broken in the
    candidate's favour only when both (i) its mean relative gain over the default across the six (``gain``,
    :func:`margin`) is positive and (ii) it meets an issue-13 target that the default misses and misses none that the
    default meets (``targets`` and ``default_targets``, :func:`target_checks`). Why (2026-12-06): the multi-focus
    candidates with w following v kept every quarter of the focus stack at 0.92 or more where the default keeps
    0.897, and gained SF, Q_CB and Q_NCIE, but tied 3 of 6 on every slice: the default's leads in EN, SD and VIF are
    coarse-scale contrast that no term of the loss asks for (docs/BENCHMARKS.md, "Eleventh session"); a tie
    decided by the issue's own target, with the six metrics' balance not negative, is what better means there."""
    if won >= 4:
        return True, f"{won}/{n} paper metrics at least as good as the default"
    gained = [k for k, ok in targets.items() if ok and not default_targets.get(k, False)]
    lost = [k for k, ok in default_targets.items() if ok and not targets.get(k, False)]
    if 2 * won == n and gain > 0 and gained and not lost:
        return True, (f"{won}/{n} paper metrics (a tie), mean relative gain {gain:+.2%}, and it meets the target "
                      f"the default misses: {', '.join(gained)}")
    why = f"{won}/{n} paper metrics at least as good as the default"
    if 2 * won == n:
        why += f" (a tie; mean relative gain {gain:+.2%}; targets gained: {', '.join(gained) or 'none'}" + (
            f", lost: {', '.join(lost)})" if lost else ")")
    return False, why


def ship(task: str) -> int:
    """Replace resources/weights/<task>.safetensors by the campaign's model when the hold-out says it is better
    (:func:`better_than_default`: at least 4 of the 6 paper metrics at least as good as the shipped default's, or a
    tie broken by an issue-13 target; and the task's structural metric not lost: STRUCTURAL), its maps pass and it
    keeps a darkened pair dark (dark_check)."""
    from refusion_core.metrics.evaluation import wins
    from refusion_core.models.checkpoint import load_model, save_model
    res = evaluate_holdout(task)
    names, hib = res["paper_metrics"], res["higher_is_better"]
    mine, default = res["methods"]["campaign"]["mean"], res["methods"]["default (shipped)"]["mean"]
    won = wins(mine, default, names, hib)
    model = RUNS / f"{task}.safetensors"
    better, why = better_than_default(won, len(names), margin(mine, default, names, hib), target_checks(task, model),
                                      target_checks(task, None))
    ok_maps, figures = maps_check(task, model)
    ok_structure, structure = structure_kept(task, mine, default)
    ok_dark, dark = dark_check(task, model, dark_reference(task, read_json(CAMPAIGN / task / "plan.json")["holdout"]))
    print(f"campaign {task}: {why} on the hold-out; maps: {figures}; {structure or 'no structural metric'}; {dark}")
    if not better or not ok_maps or not ok_structure or not ok_dark:
        print(f"campaign {task}: not shipped")
        return 1
    bundle = load_model(model, task)
    old = load_model(None, task).meta
    shipped = old.get("provenance", {})
    if not shipped.get("lineage"):  # a default from before the campaign: its own training is the first stage
        shipped = {**shipped, "lineage": [script("train_defaults").stage_record(old)]}
    stages = [st for st in read_json(CAMPAIGN / task / "stages.json", []) if not st.get("discarded")]  # its lineage
    plan = read_json(CAMPAIGN / task / "plan.json")
    carried = shipped.get("lineage", []) if plan["init"] is not None else []  # a campaign from random: its own
    carried = [r for r in carried if not str(r.get("preset", "")).startswith("campaign")]  # one record: all its stages
    bundle.meta["provenance"] = {
        **bundle.meta.get("provenance", {}), "script": "scripts/campaign.py", "holdout": plan["holdout"],
        "data": f"{SETS[task]}, train split less {plan['holdout']} hold-out pairs, of shared/datasets/manifest.json",
        "lineage": carried + [{  # the card writer's record of the model's settings, with the campaign's totals
            **script("train_defaults").stage_record(bundle.meta), "preset": f"campaign ({len(stages)} stage(s))",
            "lr_schedule": "constant",
            "wall_time_s": sum(st["wall_s"] for st in stages), "cpu_time_s": sum(st["cpu_s"] for st in stages),
            "hardware": stages[-1]["hardware"] if stages else None, "date": time.strftime("%Y-%m-%d %H:%M:%S")}],
        "changes": plan_changes(plan), "shipped_because": why}
    save_model(REPO / "resources" / "weights" / f"{task}.safetensors", bundle)
    print(f"campaign {task}: shipped to resources/weights/{task}.safetensors; write its card with "
          f"'python scripts/train_defaults.py --tasks {task} --cards-only'")
    return 0


def plan_changes(plan: dict) -> list[str]:
    """The changes made along the campaign (plan.json's history: restarts, adopted candidates, P sharpened), one
    line each, for the model card: a campaign's model is more than its last stage's settings."""
    return [f"{h.get('date', '?')}" + (f" (from step {h['from_step']:,})" if h.get("from_step") else "")
            + f": {h['change']}" for h in plan.get("history", []) if h.get("change")]


# Candidate schedules for ``compare``: overrides of the task's plan, each trained from the same committed state.
CANDIDATES = {
    "plan": {},
    "paper-ratio": dict(meta_steps=30, fuse_steps=80),  # 27 % meta steps, as Algorithm 1's 600 : 1600
    "meta-60": dict(meta_steps=60, fuse_steps=40),
    "crop-64": dict(crop=64),
    "lr-p-3e-4": dict(lr_p=3e-4),
    "meta-batch-8": dict(meta_batch=8),
    "fresh-p3": {},  # the plan's schedule with P replaced by a fresh refusion-p-3 (PLAN_CANDIDATES)
    "fresh-p3-meta-60": dict(meta_steps=60, fuse_steps=40),  # the same with meta-60's share
    # P frozen where it is (no meta steps): F and R go on learning the maps P has, which the outer loss would
    # otherwise pull back toward ½ (docs/BENCHMARKS.md, the reconstruction probe on every task)
    "p-frozen": dict(meta_steps=0, fuse_steps=100),
    # w held at ½, only v learnt (TrainSettings.fixed_w: the paper's multi-focus maps), the paper's meta share, from
    # a fresh P on the state's F and R, or on the shipped default's
    "fresh-p3-fixed-w": dict(fixed_w=True, meta_steps=30, fuse_steps=80),
    "shipped-fixed-w": dict(fixed_w=True, meta_steps=30, fuse_steps=80),
    "fixed-w-p-frozen": dict(fixed_w=True, meta_steps=0, fuse_steps=100),  # the state's v kept, w ½, F and R train
    # the plan's schedule, and meta-60's, from the shipped default's F and R with a fresh P (not the state)
    "shipped": {},
    "shipped-meta-60": dict(meta_steps=60, fuse_steps=40),
    # the losses' ∇ as the plain Sobel kernel (TrainSettings.gradient_scale 8: Lf_grad and Lr_grad × 64), P frozen
    # so that F and R first learn the loss the maps they have now ask for; the second with P's v logits × 3 once
    # at the start (LossProposalNet.sharpen; docs/BENCHMARKS.md, "The gradient term's scale")
    "sobel-8-p-frozen": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),
    "sobel-8-sharpen-v3": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),
    "sobel-8-sharpen-v2": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),
    "sobel-8-sharpen-wv2": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),  # w too: content-dependent w
    # a further ×1.5 of the state's (already sharpened) logits, for a state trained on the plain-Sobel losses
    "sharpen-v1.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),
    "sharpen-wv1.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),
    # for a state trained on the normalised Sobel (mif): the step to 8 at once broke it down within a slice, so a
    # smaller step, or 8 with F and R at a quarter of the rate
    "sobel-2-p-frozen": dict(gradient_scale=2.0, meta_steps=0, fuse_steps=100),
    "sobel-4-p-frozen": dict(gradient_scale=4.0, meta_steps=0, fuse_steps=100),
    "sobel-8-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, lr_f=5e-5, lr_r=5e-5),
    # the same switch with F's and R's Adam moments cleared once at the start: carried over, they were fitted to
    # the old scale's gradients (at the mif state, the ∇×8 losses' F gradient is 16× (median per tensor) the
    # root of Adam's second moment, so the first hundreds of steps are several times the learning rate). Measured
    # on mif: it broke down all the same (hold-out SF 7.8, SSIM 0.44; docs/BENCHMARKS.md), so that was not the cause
    "sobel-8-fresh-adam": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100),
    "sobel-4-fresh-adam": dict(gradient_scale=4.0, meta_steps=0, fuse_steps=100),
    # P frozen, crop pairs darkened at random (TrainSettings.darken): the infrared–visible train split has no dark
    # regions, and the default fused a pair scaled by 0.1 to a mean of 0.47 (docs/BENCHMARKS.md, "Dark inputs")
    "darken-0.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5),
    "darken-0.25": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.25),
    # darkened crops that also lose a black level (TrainSettings.crush): darken-0.5 alone still fused regions black
    # in both sources to grey (a black pair to 0.23)
    "darken-crush-0.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.5),
    "darken-crush-1": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=1.0),
    # medical fusion lost whenever P was frozen (p-frozen at scale 1, sobel-2-p-frozen, the ∇ × 8 breakdowns), and its
    # best model came from the meta steps (plan): so the plan's 40 meta + 60 plain steps, with the losses' ∇ × 2
    "meta-sobel-2": dict(gradient_scale=2.0),
    # the same window one scale step further, from a state already trained at ∇ × 2 (the meta steps set explicitly:
    # the state's plan may have P frozen)
    "meta-sobel-4": dict(gradient_scale=4.0, meta_steps=40, fuse_steps=60),
    # meta-sobel-2's window again, from the state that window and p-frozen made (∇ × 4 broke down, and meta-sobel-2's
    # quality sat in its first ~1,800 steps, so short slices); the meta steps set explicitly for the same reason
    "meta-sobel-2-again": dict(gradient_scale=2.0, meta_steps=40, fuse_steps=60),
    # the medical default's detail (SF, AG below the released checkpoint's) rose with ∇ × 2; ∇ × 4 and × 8 broke F down
    # at its rate 2e-4, so ∇ × 3 (the gradient term 2.25 × the state's) at half the rate, P frozen
    "sobel-3-slow": dict(gradient_scale=3.0, meta_steps=0, fuse_steps=100, lr_f=1e-4, lr_r=1e-4),
    # the next rung from sobel-3-slow's state: ∇ × 4 (the gradient term 1.8 × that state's) at a quarter of the rate
    "sobel-4-slow": dict(gradient_scale=4.0, meta_steps=0, fuse_steps=100, lr_f=5e-5, lr_r=5e-5),
    # darken-crush-1 at a quarter of F's and R's rate (ivif: 2e-4): at the full rate the crushed crops cost the
    # contrast (hold-out SD 51.3 vs 53.2) within a slice; slower, F may learn black-stays-black and keep the rest
    "darken-crush-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=1.0,
                              lr_f=5e-5, lr_r=5e-5),
    # from darken-crush-slow's state (black kept: a black pair to 0.048), to regain its 1.5 % of contrast: fewer
    # crushed crops, or none (does F keep black without them?), at the same slow rate
    "darken-crush-slow-0.25": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.25,
                                   lr_f=5e-5, lr_r=5e-5),
    "darken-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.0,
                        lr_f=5e-5, lr_r=5e-5),
    # multi-focus: F leans toward its first input (0.98 / 0.91 of the sharp energy on a synthetic pair's halves,
    # 0.955 / 0.941 swapped); P is swap-equivariant, so crop pairs in random order teach F the order means nothing
    "swap-order": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, swap=0.5),
    # medical: SF, AG and SCD below the released checkpoint's, and the ∇ scale can rise no further (× 4 broke F
    # down or gained nothing); sharper v maps (v logits × 2 or × 1.5 once, P frozen) moved the gradient target
    # toward the per-pixel stronger source on multi-exposure and multi-focus, so the same on sobel-3-slow's settings
    "sharpen-v2-sobel-3": dict(gradient_scale=3.0, meta_steps=0, fuse_steps=100, lr_f=1e-4, lr_r=1e-4),
    "sharpen-v1.5-sobel-3": dict(gradient_scale=3.0, meta_steps=0, fuse_steps=100, lr_f=1e-4, lr_r=1e-4),
    # infrared-visible: the state keeps a black pair black (0.048; darken-crush-slow) but lost 1-1.5 % of SD, SF and AG
    # against the shipped default, and neither fewer crushed crops nor none brought them back at 5e-5; sharper w and
    # v (× 1.5 once) had given SD +3.3 and SF, AG up on the earlier state, so the same with crush 0.25 at 1e-4
    "darken-sharpen-wv1.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.25,
                                 lr_f=1e-4, lr_r=1e-4),
    # the same with every darkened crop crushed (crush 1): with 0.25 a black pair fused grey again (0.271)
    "darken-crush-sharpen-wv1.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=1.0,
                                       lr_f=1e-4, lr_r=1e-4),
    # between the two: half the darkened crops crushed (a black pair stayed black with 1, went grey with 0.25)
    "darken-crush-0.5-sharpen-wv1.5": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.5,
                                           lr_f=1e-4, lr_r=1e-4),
    # multi-focus: sharper v is exhausted (sobel-8-sharpen-v2 three times), and the loss's optimum with w = ½ sits
    # below the pyramid (scripts/probe_loss_optimum.py); the paper's α1 sweep reaches 2 (Lf's gradient term × 2, the
    # reconstruction loss as it is), at a fifth of F's and R's rate so that the step does not break F down
    "alpha1-2-slow": dict(gradient_scale=8.0, alpha1=2.0, meta_steps=0, fuse_steps=100, lr_f=1e-4, lr_r=1e-4),
    # medical: SF is the one paper metric inside the sources' hull still below the released checkpoint (2.8 %;
    # benchmarks/bench_hull.py), and ∇ × 4 broke F down or gained nothing; α1 = 2 doubles Lf's gradient term alone (R's
    # loss as it is), on sobel-3-slow's settings
    "alpha1-2-sobel-3": dict(gradient_scale=3.0, alpha1=2.0, meta_steps=0, fuse_steps=100, lr_f=1e-4, lr_r=1e-4),
    # multi-focus: the stack's fourth quarter loses ~7 % per fusion whatever the order (docs/BENCHMARKS.md), content F
    # does not reproduce; the paper's crops are 128² (ours 96²): more context per crop for F to tell sharp from blurred
    "crop-128-frozen": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, crop=128),
    # infrared-visible: the default (crush 0.5) fuses a black pair to 0.17 (released 0.05; crush 1 kept it at 0.05 but
    # cost ~1 % of SD, SF and AG): three quarters of the darkened crops crushed, at half the default's last rate
    "crush-0.75-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.75,
                            lr_f=5e-5, lr_r=5e-5),
    # medical: α1 = 2 took SF within 0.5 % of the released checkpoint on the hold-out but cost EN and SCD; halfway
    "alpha1-1.5-sobel-3": dict(gradient_scale=3.0, alpha1=1.5, meta_steps=0, fuse_steps=100, lr_f=1e-4, lr_r=1e-4),
    # multi-focus: the stack's fourth quarter (a black helmet with white highlights) is lost to F's sigmoid, which
    # compresses black and white: the same image mapped to [0.1, 0.9] first keeps 0.99 where it kept 0.92. Half the
    # crop pairs stretched to the full range (TrainSettings.stretch), on the default's frozen maps
    "stretch-0.5-frozen": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, stretch=0.5),
    # infrared-visible: a black pair now fuses to 0.04, but black beside bright content is still lifted (the astronaut
    # with both inputs the same: its blacks, 0.002, become 0.054): a quarter of the crop pairs stretched to the full
    # range, on crush-0.75-slow's settings
    "crush-0.75-stretch-0.25": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, darken=0.5, crush=0.75,
                                    stretch=0.25, lr_f=5e-5, lr_r=5e-5),
    # multi-focus: stretch-0.5-frozen kept black and white (the astronaut as both inputs) but lost VIF and SD on the
    # hold-out at 5e-4 (0, 3, 3, 1 of 6); a quarter of the crops at a fifth of the rate
    "stretch-0.25-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, stretch=0.25, lr_f=1e-4, lr_r=1e-4),
    # multi-focus: with w = ½ the loss's own optimum stays below the Laplacian pyramid on SF, VIF, Q_CB and Q_NCIE and
    # keeps ~0.96 of the stack's fourth quarter per fusion; with w = v it passes the pyramid on SF, Q_CB and Q_NCIE and
    # keeps 0.997 (docs/BENCHMARKS.md). P's w made equal to its v once (LossProposalNet.tie_w_to_v), P frozen
    "w-follows-v": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, fixed_w=False),
    "w-follows-v-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, fixed_w=False, lr_f=1e-4, lr_r=1e-4),
    # the same with v (and so w) twice as decisive: nearer the hard per-pixel choice, which passes the pyramid on 4 of 6
    "w-follows-v2-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, fixed_w=False, lr_f=1e-4, lr_r=1e-4),
    # w-follows-v(-slow, 2-slow) gained SF, Q_CB, Q_NCIE and the stack (every quarter >= 0.917) but lost EN, SD and VIF
    # (3/6 vs the default): w leaning with v at half its logits, between the paper's ½ and w = v
    "w-half-v-slow": dict(gradient_scale=8.0, meta_steps=0, fuse_steps=100, fixed_w=False, lr_f=1e-4, lr_r=1e-4),
    # the adopted w-following state (plan: tie_w 1, P frozen) at half its rate: its slices moved 3/6 up and down
    "w-v-5e-5": dict(lr_f=5e-5, lr_r=5e-5),
    # the adopted w-following state lost VIF and SD to the default: the gradient term at half its weight, so that
    # the intensity term (now pulling toward the sharp source where v is decisive) sets more of F's contrast
    "w-v-alpha1-0.5": dict(alpha1=0.5),
    # and the other way: the gradient term at twice its weight (the w-following optimum hardly moves with it,
    # docs/BENCHMARKS.md "The multi-focus loss's optimum", so what it changes is F's path)
    "w-v-alpha1-2": dict(alpha1=2.0),
    # the adopted w-following state with v's logits (and so w's) × 2 once: the loss's optimum with w = v passes the
    # Laplacian pyramid on EN, SF, Q_CB and Q_NCIE with v × 2 (on EN only from v × 2 on; docs/BENCHMARKS.md)
    "w-v-sharpen-2": {},
    # twelfth session: every constant-rate slice of the w-following line traded 3 of 6 up and down; the rate annealed
    # instead, from the state's step (20,711) to 0 over ~2,700 steps (a cosine; warmup_steps is the state's step, so
    # lr_factor starts at 1 there and the "warm-up" before it is never run), so that F settles where Adam's noise
    # at a constant rate keeps it moving. The batch-8 variant halves the gradient noise for the same CPU time
    "w-v-anneal": dict(lr_schedule="cosine", warmup_steps=20711, epochs=234),
    "w-v-anneal-b8": dict(lr_schedule="cosine", warmup_steps=20711, epochs=221, batch=8, lr_f=1.4e-4, lr_r=1.4e-4),
    # both annealed 2 of 6 (the same trade: Q_CB up, VIF and SD down). F fused with itself keeps a hold-out image
    # within about a level of 255 yet at Q_CB 0.83-0.92 against it: a quarter / half of the crop pairs one source
    # twice (TrainSettings.same), whose fusion is that source
    "w-v-same-0.25": dict(same=0.25),
    "w-v-same-0.5": dict(same=0.5),
}
# Candidates that change the plan itself, not only its settings. ``from_shipped``: the start is the shipped
# default's F and R with a fresh P of the plan's version, not the campaign's state.
PLAN_CANDIDATES = {name: {"fresh_proposal": "refusion-p-3"}
                   for name in ("fresh-p3", "fresh-p3-meta-60", "fresh-p3-fixed-w")}
PLAN_CANDIDATES.update({name: {"from_shipped": True} for name in ("shipped-fixed-w", "shipped", "shipped-meta-60")})
PLAN_CANDIDATES.update({"sobel-8-sharpen-v3": {"sharpen": {"maps": "v", "factor": 3.0}},
                        "sobel-8-sharpen-v2": {"sharpen": {"maps": "v", "factor": 2.0}},
                        "sobel-8-sharpen-wv2": {"sharpen": {"maps": "wv", "factor": 2.0}},
                        "sharpen-v1.5": {"sharpen": {"maps": "v", "factor": 1.5}},
                        "sharpen-wv1.5": {"sharpen": {"maps": "wv", "factor": 1.5}},
                        "darken-sharpen-wv1.5": {"sharpen": {"maps": "wv", "factor": 1.5}},
                        "darken-crush-sharpen-wv1.5": {"sharpen": {"maps": "wv", "factor": 1.5}},
                        "darken-crush-0.5-sharpen-wv1.5": {"sharpen": {"maps": "wv", "factor": 1.5}},
                        "sharpen-v2-sobel-3": {"sharpen": {"maps": "v", "factor": 2.0}},
                        "sharpen-v1.5-sobel-3": {"sharpen": {"maps": "v", "factor": 1.5}}})
PLAN_CANDIDATES.update({name: {"tie_w": True} for name in ("w-follows-v", "w-follows-v-slow")})
PLAN_CANDIDATES["w-follows-v2-slow"] = {"sharpen": {"maps": "v", "factor": 2.0}, "tie_w": True}
PLAN_CANDIDATES["w-half-v-slow"] = {"tie_w": 0.5}
PLAN_CANDIDATES["w-v-sharpen-2"] = {"sharpen": {"maps": "v", "factor": 2.0}}
PLAN_CANDIDATES.update({name: {"reset_optimizers": ["fusion", "reconstruction"]}
                        for name in ("sobel-8-fresh-adam", "sobel-4-fresh-adam")})


def compare(task: str, names: list[str], minutes: float, slices: int, threads: int) -> int:
    """Quality per CPU hour: each candidate trains from the task's committed state for ``minutes`` in ``slices``
    slices (candidates in parallel, ``threads`` each), and is measured on the hold-out after every slice.
    Nothing is written under campaign/: the candidates live in runs/compare/<task>/<name>/, and each one's best
    slice (shippable first: better than the default by :func:`better_than_default`, check_maps passing, the
    structural metric kept and the dark check passed, as ``ship`` asks; then most such metrics; then the mean
    relative gain; the earlier slice kept on equal terms) is copied to runs/compare/<task>/<name>/best/ for
    ``adopt``: the good models sit early in P's training (docs/BENCHMARKS.md, the reconstruction probe), so a later
    slice must not overwrite them."""
    from refusion_core.metrics.evaluation import baseline_method, evaluate, markdown_table, model_method, wins
    base_plan = read_json(CAMPAIGN / task / "plan.json")
    if base_plan is None:
        raise SystemExit(f"campaign: no plan for {task}")
    home = CAMPAIGN.parent
    roots = {name: prepare_candidate(task, name, base_plan) for name in names}
    _, val = split_pairs(task, base_plan["holdout"])
    refs = evaluate([model_method(None, task, "cpu", name="default (shipped)"), baseline_method("laplacian")], val, task)
    names_m, hib = refs["paper_metrics"], refs["higher_is_better"]
    default = refs["methods"]["default (shipped)"]["mean"]  # all metrics (the structural one too)
    dark_ref = dark_reference(task, base_plan["holdout"])
    default_targets = target_checks(task, None)
    rows, best = [], {}
    parallel = max(1, (os.cpu_count() or 1) // threads)
    for k in range(1, slices + 1):
        for i in range(0, len(names), parallel):
            group = names[i:i + parallel]
            procs = [subprocess.Popen([sys.executable, __file__, "stage", "--tasks", task, "--minutes",
                                       str(minutes / slices), "--threads", str(threads), "--root", str(roots[n])])
                     for n in group]
            if any(p.wait() for p in procs):
                raise SystemExit("campaign: a candidate's stage failed")
        for name in names:
            set_root(roots[name])
            res = evaluate_holdout(task, references=False, quiet=True)
            stages = read_json(CAMPAIGN / task / "stages.json", [])
            cpu_min = sum(st["cpu_s"] for st in stages) / 60
            mean = res["methods"]["campaign"]["mean"]
            won = wins(mean, default, names_m, hib)
            ok_maps, figures = maps_check(task, RUNS / f"{task}.safetensors")  # the model evaluate_holdout wrote
            # shippable first (ship's rule: better_than_default, the maps, the structural metric, the dark check),
            # then wins, then the mean gain
            gain = margin(mean, default, names_m, hib)
            better, _ = better_than_default(won, len(names_m), gain, target_checks(task, RUNS / f"{task}.safetensors"),
                                            default_targets)
            ok_structure, structure = structure_kept(task, mean, default)
            ok_dark, dark = dark_check(task, RUNS / f"{task}.safetensors", dark_ref)
            figures = "; ".join(f for f in (figures if task in MAP_TASKS else "", structure, dark) if f)
            rows.append((name, k, cpu_min, stages[-1]["steps"][1], mean, won, figures))
            record_slice(roots[name], task, name, names_m, {"slice": k, "step": stages[-1]["steps"][1],
                                                            "cpu_min": cpu_min, "won": won, "figures": figures,
                                                            "holdout": mean})
            score = (better and ok_maps and ok_structure and ok_dark, won, gain)
            if name not in best or score > best[name]["score"]:  # keep this slice: the later ones may lose it
                keep_slice(roots[name], task, {"slice": k, "step": stages[-1]["steps"][1], "won": won,
                                               "maps": figures, "shippable": score[0], "score": list(score),
                                               "holdout": mean})
                best[name] = {"score": score, "slice": k, "won": won}
    set_root(home)
    print(f"\n{task}: hold-out ({len(val)} pairs), paper metrics; reference rows:\n")
    print(markdown_table(refs, names_m))
    print(f"\n| candidate | slice | CPU min | step | {' | '.join(names_m)} | wins vs default | maps |\n|"
          + "---|" * (len(names_m) + 6))
    for name, k, cpu_min, step, mean, won, figures in rows:
        print(f"| {name} | {k} | {cpu_min:.0f} | {step} | " + " | ".join(f"{mean[n]:.4g}" for n in names_m)
              + f" | {won}/{len(names_m)} | {figures} |")
    print()
    for name, b in best.items():
        print(f"{name}: best slice {b['slice']} ({b['won']}/{len(names_m)} vs the default), kept in "
              f"{roots[name] / 'best'}; make it the campaign's state with "
              f"'campaign.py adopt --tasks {task} --candidate {name}'")
    return 0


def prepare_candidate(task: str, name: str, base_plan: dict) -> Path:
    """A compare candidate's own campaign root, runs/compare/<task>/<name>/, made afresh: the task's plan with the
    candidate's settings and plan changes, and its start: the task's state (P restarted there, once, for a
    ``fresh_proposal``), or nothing for ``from_shipped`` (make_trainer then starts from the shipped F and R)."""
    home = CAMPAIGN.parent
    root = home / "runs" / "compare" / task / name
    shutil.rmtree(root, ignore_errors=True)
    plan = {**base_plan, **PLAN_CANDIDATES.get(name, {}), "settings": {**base_plan["settings"], **CANDIDATES[name]},
            "candidate": name}
    from_shipped = plan.pop("from_shipped", False)
    if from_shipped:
        plan.update(init=f"resources/weights/{task}.safetensors", init_modules=["fusion", "reconstruction"])
    plan_file = root / "campaign" / task / "plan.json"
    write_json(plan_file, plan)
    if (CAMPAIGN / task / "state.pt").exists() and not from_shipped:
        shutil.copyfile(CAMPAIGN / task / "state.pt", root / "campaign" / task / "state.pt")

        def done(key: str, record: str) -> None:  # the one-off change made: the plan keeps it as a record
            plan[record] = plan.pop(key)
            write_json(plan_file, plan)

        if plan.get("fresh_proposal"):  # P restarted here, once, whatever its version; the slices go on from it
            rewrite_state(root, task, fresh_now=True)
            done("fresh_proposal", "proposal_restarted")
        if plan.get("sharpen"):  # P's logits scaled once, here; the slices go on from the sharpened P
            k = plan["sharpen"]
            rewrite_state(root, task, lambda t: t.proposal.sharpen(k["factor"], k["maps"]))
            done("sharpen", "proposal_sharpened")
        if plan.get("tie_w"):  # P's w made its v (True) or v's logits × tie_w once, here (P frozen by the settings)
            rewrite_state(root, task, lambda t: t.proposal.tie_w_to_v(float(plan["tie_w"])))
            done("tie_w", "proposal_w_tied_to_v")
        if plan.get("reset_optimizers"):  # Adam's moments of these modules cleared once, here
            rewrite_state(root, task, lambda t: reset_optimizers(t, plan["reset_optimizers"]))
            done("reset_optimizers", "optimizers_reset")
    return root


def reset_optimizers(trainer, modules: list[str]) -> None:
    """Clear the Adam moments (and step counts) of ``modules`` ("fusion", "reconstruction", "proposal"): the next
    step starts them afresh, with Adam's bias correction, at the current gradients' scale."""
    opts = {"fusion": trainer.opt_f, "reconstruction": trainer.opt_r, "proposal": trainer.opt_p}
    for name in modules:
        opts[name].state.clear()


def rewrite_state(root: Path, task: str, change=None, **kw) -> None:
    """Rewrite a compare candidate's state.pt under ``root`` once: its trainer (``make_trainer(**kw)``, e.g. a fresh
    P with ``fresh_now``) with ``change(trainer)`` applied, saved in its place."""
    home = CAMPAIGN.parent
    set_root(root)
    try:
        trainer = make_trainer(task, "cpu", **kw)
        if change is not None:
            change(trainer)
        shutil.copyfile(trainer.save_checkpoint(), root / "campaign" / task / "state.pt")
    finally:
        set_root(home)


def margin(mean: dict, ref: dict, names: list[str], hib: dict) -> float:
    """Mean relative gain over ``ref`` across ``names`` (signed so that better is positive): breaks ties in wins."""
    return sum((mean[n] - ref[n]) / max(abs(ref[n]), 1e-12) * (1 if hib[n] else -1) for n in names) / len(names)


def record_slice(root: Path, task: str, name: str, names: list[str], record: dict) -> None:
    """A compare slice's figures as soon as they are measured, so that a compare stopped early keeps them: one line
    on stdout (``[task] candidate, slice k ...``) and one JSON line appended to ``root``/slices.jsonl."""
    print(f"[{task}] {name}, slice {record['slice']} (step {record['step']:,}, {record['cpu_min']:.0f} CPU min): "
          + ", ".join(f"{n} {record['holdout'][n]:.4g}" for n in names)
          + f"; {record['won']}/{len(names)} vs the default; {record['figures']}", flush=True)
    with open(root / "slices.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def keep_slice(root: Path, task: str, record: dict) -> None:
    """Copy a compare candidate's current state, plan and stages to ``root``/best/ with ``record`` (best.json)."""
    best = root / "best"
    shutil.rmtree(best, ignore_errors=True)
    best.mkdir(parents=True)
    for name in ("state.pt", "stages.json", "plan.json"):
        shutil.copyfile(root / "campaign" / task / name, best / name)
    write_json(best / "best.json", record)


def adopt(task: str, name: str) -> int:
    """Make compare candidate ``name``'s best slice the campaign's state: its state.pt replaces
    campaign/<task>/state.pt, its slices are appended to stages.json, and plan.json takes the candidate's settings
    (so that the next stage continues it faithfully) with a history entry saying so."""
    best = CAMPAIGN.parent / "runs" / "compare" / task / name / "best"
    if not (best / "best.json").exists():
        raise SystemExit(f"campaign: no best slice of {name} for {task}; run 'campaign.py compare' first")
    record = read_json(best / "best.json")
    shutil.copyfile(best / "state.pt", CAMPAIGN / task / "state.pt")
    slices = read_json(best / "stages.json", [])
    stages = read_json(CAMPAIGN / task / "stages.json", [])
    for st in slices:
        stages.append({**st, "stage": len(stages) + 1,
                       "note": f"compare candidate '{name}', slice {st['stage']} of its run"})
    write_json(CAMPAIGN / task / "stages.json", stages)
    plan = read_json(CAMPAIGN / task / "plan.json")
    cand = read_json(best / "plan.json")
    plan["settings"] = cand["settings"]
    plan.setdefault("history", []).append({
        "date": time.strftime("%Y-%m-%d"),
        "change": f"state = compare candidate '{name}' after slice {record['slice']} (step {record['step']}); "
                  f"settings = the candidate's",
        "why": f"its best slice on the hold-out: {record['won']} of 6 paper metrics at least as good as the default"})
    write_json(CAMPAIGN / task / "plan.json", plan)
    print(f"campaign {task}: state = {name}'s slice {record['slice']} (step {record['step']}); "
          f"{len(slices)} stage record(s) appended")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("init", "stage", "eval", "ship", "compare", "adopt", "_worker"))
    ap.add_argument("--tasks", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--task", choices=list(SETS), help=argparse.SUPPRESS)
    ap.add_argument("--minutes", type=float, default=90.0, help="length of the stage (each task)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per task")
    ap.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--schedule", default="plan", choices=("plan", "paper"),
                    help="plan: each task's plan.json; paper: the paper's schedule with bf16 (CUDA; else the plan)")
    ap.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=["plan", "paper-ratio"],
                    help="compare: the schedules to compare (CANDIDATES)")
    ap.add_argument("--slices", type=int, default=3, help="compare: hold-out measurements per candidate")
    ap.add_argument("--candidate", choices=list(CANDIDATES),
                    help="adopt: the compare candidate whose best slice to keep")
    ap.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    set_root(args.root)
    if args.command == "init":
        for t in args.tasks:
            init(t)
    elif args.command == "stage":
        return stage(args.tasks, args.minutes, args.threads, args.device, args.schedule)
    elif args.command == "_worker":
        return worker(args.task, args.minutes, args.device, args.schedule)
    elif args.command == "eval":
        for t in args.tasks:
            evaluate_holdout(t)
    elif args.command == "ship":
        return max(ship(t) for t in args.tasks)
    elif args.command == "compare":
        return max(compare(t, args.candidates, args.minutes, args.slices, args.threads) for t in args.tasks)
    elif args.command == "adopt":
        if args.candidate is None:
            ap.error("adopt needs --candidate")
        return max(adopt(t, args.candidate) for t in args.tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
