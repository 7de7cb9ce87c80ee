"""Reproduce the shipped default weights: train each task on the train split of ../shared/datasets with
the project's own trainer, copy the result to resources/weights/<task>.safetensors and write its model
card (resources/weights/<task>.md) with metrics on the test split.

    OMP_NUM_THREADS=1 python scripts/train_defaults.py [--tasks ivif mif mfif meif] [--preset cpu-hour]
                                     [--epochs N] [--refine K] [--holdout N] [--runs runs/defaults]
                                     [--cards-only | --ship-only] [--reuse-eval]

A run that already exists is resumed (or, when complete, reused). With ``--epochs`` larger than the run's,
a finished run is extended: the trainer's schedule has a constant learning rate and draws each epoch's
split and crops from its own saved RNG state, so N epochs reached in two sittings are the same training
as N epochs in one. ``--holdout N`` leaves N train pairs out of new runs (the same N pairs each time), so
that candidates can be compared on pairs no run saw (``refusion eval --split holdout --holdout N``) instead
of on the test split. ``--refine K`` then runs K `cpu-refine` stages in a chain (runs/<task>.refine1, ...;
each starts from the previous stage's model, warms the learning rate up and decays it to 0 by a cosine)
and ships the last. The model card lists every stage, read back through each model's recorded ``init``.
Training never sees the test split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from refusion_core.models.checkpoint import load_model, save_model, tensors_checksum  # noqa: E402
from refusion_core.training.data import BENCHMARK_SETS as SETS, pairs_from_manifest  # noqa: E402
from refusion_core.metrics.evaluation import baseline_method, evaluate, markdown_table, model_method  # noqa: E402
from refusion_core.paths import shared_dir  # noqa: E402
from refusion_core.training.settings import LEGACY_GRADIENT_SCALE  # noqa: E402



def train(task: str, preset: str, run: Path, manifest: Path, device: str = "auto", epochs: int | None = None,
          holdout: int = 0, init: Path | None = None) -> None:
    """Train ``run`` (from ``init`` when given), resume it, or extend a finished one to ``epochs``."""
    if (run / "checkpoint.pt").exists():
        info = json.loads((run / "run.json").read_text())
        if epochs and epochs > info["settings"]["epochs"]:  # extend a finished (or stopped) run
            info["settings"]["epochs"] = epochs
            (run / "run.json").write_text(json.dumps(info, indent=1))
        cmd = ["resume", str(run)]
    else:
        cmd = (["train", "--task", task, "--manifest", str(manifest), "--set", SETS[task], "--preset", preset,
                "--out", str(run), "--holdout", str(holdout)] + (["--epochs", str(epochs)] if epochs else [])
               + (["--init", str(init)] if init else []))
    subprocess.run([sys.executable, "-m", "refusion_core.cli.main", *cmd, "--device", device], check=True)


def stage_record(meta: dict) -> dict:
    """One training stage, as the model card lists it, from a model's metadata."""
    prov, st = meta.get("provenance", {}), meta.get("settings", {})
    return {"preset": st.get("preset_name") or "cpu-hour", "epochs": st.get("epochs"),
            "meta_steps": st.get("meta_steps"), "fuse_steps": st.get("fuse_steps"),
            "lr_schedule": st.get("lr_schedule", "constant"), "crop": st.get("crop"), "lr_f": st.get("lr_f"),
            "lr_r": st.get("lr_r"), "lr_p": st.get("lr_p"), "steps": meta.get("steps"),
            "wall_time_s": prov.get("wall_time_s"), "hardware": prov.get("hardware") or hardware(),
            "date": prov.get("date"), "fixed_w": bool(st.get("fixed_w")), "tie_w": float(st.get("tie_w", 0.0)),
            "gradient_scale": st.get("gradient_scale", LEGACY_GRADIENT_SCALE), "darken": st.get("darken", 0.0),
            "crush": st.get("crush", 0.0), "stretch": st.get("stretch", 0.0)}


def stage_settings(g: dict) -> str:
    """", crop 96², Adam lr F 0.0005, R 0.0005, P 0.001[, w held at ½]" where the stage record has them (older ones
    do not)."""
    parts = ([f"crop {g['crop']}²"] if g.get("crop") else []) + (
        [f"Adam lr F {g['lr_f']}, R {g['lr_r']}, P {g['lr_p']}"] if g.get("lr_f") is not None else []) + (
        ["w held at ½ (TrainSettings.fixed_w)"] if g.get("fixed_w") else []) + (
        ["w following v" + (f" at {g['tie_w']:g} × its logits" if g["tie_w"] != 1 else "") + " (TrainSettings.tie_w)"]
        if g.get("tie_w") else []) + (
        [f"the losses' ∇ {g['gradient_scale']:g} × the normalised Sobel (TrainSettings.gradient_scale)"]
        if g.get("gradient_scale", LEGACY_GRADIENT_SCALE) != LEGACY_GRADIENT_SCALE else []) + (
        [f"crop pairs darkened with probability {g['darken']:g} (TrainSettings.darken)"] if g.get("darken") else []) + (
        [f"darkened crops crushed with probability {g['crush']:g} (TrainSettings.crush)"] if g.get("crush") else []) + (
        [f"crop pairs stretched to the full range with probability {g['stretch']:g} (TrainSettings.stretch)"]
        if g.get("stretch") else [])
    return "".join(f", {x}" for x in parts)


def lineage(task: str, model: Path) -> list[dict]:
    """The training stages that made ``model``, oldest first: each model records the file it started from
    (provenance ``init``), or the stages before it (``lineage``) once shipped."""
    stages, path = [], Path(model)
    while True:
        meta = load_model(path, task).meta
        prov = meta.get("provenance", {})
        stages.insert(0, stage_record(meta))
        if prov.get("lineage"):  # a shipped model already lists the stages before it
            return prov["lineage"][:-1] + stages
        init = prov.get("init", "random")
        if init == "random":
            return stages
        path = Path(init) if Path(init).is_absolute() else REPO / init
        if not path.exists():
            raise SystemExit(f"train_defaults: {model} started from {init}, which is gone; cannot list its stages")


def hardware() -> str:
    threads = os.environ.get("OMP_NUM_THREADS")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
            + (f"{threads} torch thread(s) per run" if threads else "torch on all cores"))


def ship(task: str, run: Path, manifest: Path) -> Path:
    bundle = load_model(run / "model.safetensors", task)
    n_train = len(pairs_from_manifest(manifest, SETS[task], "train"))
    used = len(json.loads((run / "run.json").read_text())["pairs"])
    held = (f"{used} of its {n_train} pairs; {n_train - used} held out for validation, "
            f"refusion eval --split holdout --holdout {n_train - used}") if used < n_train else f"{n_train} pairs"
    bundle.meta["provenance"] = {**bundle.meta.get("provenance", {}), "hardware": hardware(),
                                 "data": f"{SETS[task]}, train split ({held}) of shared/datasets/manifest.json",
                                 "script": "scripts/train_defaults.py", "holdout": n_train - used,
                                 "lineage": lineage(task, run / "model.safetensors")}
    return save_model(REPO / "resources" / "weights" / f"{task}.safetensors", bundle)


def tensors_sha256(bundle) -> str:
    """SHA-256 over the model's tensors alone (names and values), unlike the file's: it survives re-shipping."""
    return tensors_checksum({f"{prefix}.{name}": value for prefix, module in bundle.modules().items()
                             for name, value in module.state_dict().items()})


def dark_text(task: str, weights: Path, released: Path | None) -> str:
    """The dark lift (refusion_core.metrics.response) on the task's sample pair, of the model, the released
    checkpoint (where present) and the Laplacian pyramid, as the card's sentence."""
    from refusion_core.fusing.baselines import laplacian_pyramid
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.fusing.stack import as_luminance_fuser
    from refusion_core.metrics.response import DARK_FACTOR, DARK_LIMIT, dark_lift
    from refusion_core.paths import sample_pair_paths
    from refusion_core.training.data import load_luminance_pair
    path_a, path_b = sample_pair_paths(task)
    a, b = load_luminance_pair(path_a, path_b)
    lift = lambda p: dark_lift(as_luminance_fuser(Fuser(load_model(p, task), "cpu")), a, b)  # noqa: E731
    figures = [f"this model {lift(weights):.1f}"] + (
        [f"the released checkpoint {lift(released):.1f}"] if released and released.exists() else []) + [
        f"the Laplacian pyramid {dark_lift(laplacian_pyramid, a, b):.1f}"]
    return (f"the sample pair ({path_a.name}, {path_b.name}) darkened ×{DARK_FACTOR:g} fuses brighter than "
            f"×{DARK_FACTOR:g} the fused pair by {', '.join(figures)} levels of 255 (refusion_core.metrics.response; "
            f"the ship gate allows {DARK_LIMIT:g}).")


def campaign_lines(task: str, prov: dict) -> str:
    """The card's lines on the campaign behind a model (its provenance): the changes along campaign/<task>/plan.json's
    history, and why the hold-out replaced the previous default (scripts/campaign.py better_than_default)."""
    text = "".join(f"\n  - {c}" for c in prov.get("changes", []))
    if text:
        text = f"\n- Changes along the campaign (campaign/{task}/plan.json's history):" + text
    if prov.get("shipped_because"):
        text += f"\n- Replaced the previous default because, on the campaign's hold-out: {prov['shipped_because']}."
    return text


def card(task: str, weights: Path, manifest: Path, released: Path | None, reuse_eval: bool = False) -> Path:
    bundle = load_model(weights, task)
    meta, s = bundle.meta, bundle.meta["settings"]
    pairs = pairs_from_manifest(manifest, SETS[task], "test")
    methods = [model_method(weights, task, "cpu", name="ours (default)")]
    if released and released.exists():
        methods.append(model_method(released, task, "cpu", name="released (authors)"))
    methods += [baseline_method(n) for n in ["average", "laplacian"] + (["mertens"] if task == "meif" else [])]
    cache = REPO / "runs" / f"eval_{task}.json"
    res = json.loads(cache.read_text()) if reuse_eval and cache.exists() else None
    if res is not None and res.get("tensors_sha256", res["methods"].get(methods[0].name, {}).get("sha256")) not in (
            tensors_sha256(bundle), bundle.sha256):  # a re-shipped file (new metadata, same tensors) is reused
        print(f"train_defaults: {cache} evaluated other {task} weights; evaluating again", file=sys.stderr)
        res = None
    if res is None:
        res = evaluate(methods, pairs, task)
        res["tensors_sha256"] = tensors_sha256(bundle)
        cache.parent.mkdir(exist_ok=True)
        cache.write_text(json.dumps(res, indent=1))
    prov = meta["provenance"]
    stages = prov.get("lineage") or [stage_record(meta)]
    base = stages[0]
    schedule = "\n".join(
        f"  {i}. `{g['preset']}` from {'random initialisation' if i == 1 else f'stage {i - 1}'}: "
        f"{'its last stage: ' if str(g['preset']).startswith('campaign') else ''}{g['epochs']} epochs × "
        f"({g['meta_steps']} meta + {g['fuse_steps']} plain steps), {g['lr_schedule']} learning rate"
        f"{stage_settings(g)}; {g['steps']:,} "
        f"steps, {g['wall_time_s']:,} s ({g['hardware']}), finished {g['date']}"
        for i, g in enumerate(stages, 1))
    total_steps = sum(g["steps"] for g in stages)
    total_wall = sum(g["wall_time_s"] or 0 for g in stages)
    refine_k = sum(g["preset"] == "cpu-refine" for g in stages)
    campaign = [g for g in stages if str(g["preset"]).startswith("campaign")]
    reproduce = "" if base in campaign else (
        f"`OMP_NUM_THREADS=1 python scripts/train_defaults.py --tasks {task} --epochs {base['epochs']}"
        + (f" --refine {refine_k}" if refine_k else "")
        + (f" --holdout {prov['holdout']}" if prov.get("holdout") and not campaign else "")  # a campaign's is its own
        + "`")
    if campaign:  # the campaign's stages continue the state committed under campaign/<task>/
        reproduce += (" then " if reproduce else "") + (
            f"`python scripts/campaign.py stage --tasks {task}` until {campaign[-1]['steps']:,} steps "
            f"(the state and the plan are committed in campaign/{task}/; docs/BENCHMARKS.md)")
    changes = campaign_lines(task, prov)
    text = f"""# Model card: `{task}.safetensors`

ReFusion F + R + P for **{task}**, trained from random initialisation by this project's own trainer
(Algorithm 1, second-order meta step). Nothing of the authors' released weights is used.

- Data: {prov.get('data')}. The test split was used only for the table below.
- Schedule, in {len(stages)} stage(s) (wall time of the training steps, on {prov.get('device')}; the machine
  was sometimes shared with other jobs):
{schedule}{changes}
- In all: {total_steps:,} steps, {total_wall:,.0f} s. Last stage: crop {s['crop']}², batch {s['batch']},
  Adam lr F {s['lr_f']}, R {s['lr_r']}, P {s['lr_p']} (peak), α1 = {s['alpha1']}, α2 = {s['alpha2']},
  ∇ in the losses {s.get('gradient_scale', LEGACY_GRADIENT_SCALE):g} × kornia's normalised Sobel (8: the plain kernel), inner step η = {s['inner_lr']}, seed {s['seed']}.
- Parameters: {', '.join(f'{k} {v:,}' for k, v in bundle.parameter_counts().items())}; P is
  `{bundle.proposal.arch_version if bundle.proposal is not None else 'absent'}` (refusion_core/models/loss_proposal.py).
- SHA-256: `{bundle.sha256}`. Reproduce: {reproduce}.
- Dark inputs: {dark_text(task, weights, released)}

## Test split ({len(pairs)} pairs), means; paper metrics

{markdown_table(res, res['paper_metrics'], reference='released (authors)' if released and released.exists() else None)}

## All metrics

{markdown_table(res)}

Metrics: `refusion_core.metrics` (checked against a published benchmark's code), computed on the Y channel
on a 0..255 scale of each method's saved output (raw network output, no stretching).
"""
    out = REPO / "resources" / "weights" / f"{task}.md"
    out.write_text(text)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--preset", default="cpu-hour")
    ap.add_argument("--epochs", type=int, help="override the preset's epochs (extends an existing run)")
    ap.add_argument("--refine", type=int, default=0, metavar="K", help="then K chained cpu-refine stages")
    ap.add_argument("--holdout", type=int, default=0, metavar="N",
                    help="new runs leave N train pairs out, to choose between candidates on them")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "defaults")
    ap.add_argument("--cards-only", action="store_true", help="only (re)write the model cards")
    ap.add_argument("--ship-only", action="store_true", help="copy finished runs into resources, no training")
    ap.add_argument("--reuse-eval", action="store_true",
                    help="cards from runs/eval_<task>.json when it evaluated the same weights (same SHA-256)")
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        print("train_defaults: ../shared (datasets) is not beside the checkout", file=sys.stderr)
        return 2
    manifest = shared / "datasets" / "manifest.json"
    for task in args.tasks:
        if not args.cards_only:
            last = args.runs / task
            if not args.ship_only:
                train(task, args.preset, last, manifest, args.device, args.epochs, args.holdout)
            for k in range(1, args.refine + 1):
                run = args.runs / f"{task}.refine{k}"
                if not args.ship_only:
                    train(task, "cpu-refine", run, manifest, args.device, holdout=args.holdout,
                          init=last / "model.safetensors")
                last = run
            ship(task, last, manifest)
        released = shared / "anchors" / "refusion_official" / f"ReFusion_{task.upper()}.pth"
        print(card(task, REPO / "resources" / "weights" / f"{task}.safetensors", manifest, released,
                   args.reuse_eval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
