"""Quality benchmark: per task, on the test split of ../shared/datasets, our default weights vs the
authors' released checkpoint vs classical baselines, on the metrics the paper reports (and all others
in docs/BENCHMARKS.md). Writes docs/BENCHMARKS.md with the command that made it.

    python benchmarks/bench_quality.py [--tasks ivif mif mfif meif] [--limit N] [--device cpu] [--reuse]

``--reuse`` takes a task's table from an earlier evaluation of the whole test split with the same default
weights (same SHA-256): runs/bench_quality_<task>.json of an earlier run, or runs/eval_<task>.json that
scripts/train_defaults.py wrote for the model card. The released checkpoints and the classical baselines do
not change, so only a retrained task is recomputed.

Run for some of the tasks (``--tasks mif``), it rewrites only those tasks' sections of an existing
docs/BENCHMARKS.md and keeps the others as they are; each section says which command made it and when.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from refusion_core.metrics.evaluation import baseline_method, evaluate, markdown_table, model_method, wins  # noqa: E402
from refusion_core.paths import default_weights_path, shared_dir  # noqa: E402
from refusion_core.training.data import BENCHMARK_SETS as SETS  # noqa: E402
from refusion_core.training.data import pairs_from_manifest  # noqa: E402

OURS, RELEASED = "ours (default)", "released (authors)"
GAP = """## Where ours falls short, and what would close the gap

The shipped default weights are short CPU trainings (2 shared cores, train splits only): the `cpu-hour` preset
(crop 96², batch 4, 15 meta + 100 plain steps per epoch, constant learning rate) for mif and mfif 6 epochs
(690 steps) and ivif 14 epochs (1,610 steps); meif 40 epochs (4,600 steps) followed by one `cpu-refine` stage
(1,100 steps at the paper's 3 : 8 ratio of meta to plain steps, learning rate warmed up and decayed to 0 by a
cosine). The paper trains 50 × (600 + 1600) = 110,000 steps at 128². At these lengths F has learnt little more
than the weighted average that P's maps ask for, so our rows sit near the `average` baseline: lower SD, SF, AG
and VIF than the released checkpoints, similar or better SSIM, Q_CB and Q_NCIE. Each model card
(resources/weights/<task>.md) lists its stages.

What was tried, and kept or not (candidates were judged on the train split and on the synthetic pairs of
tests/refusion_core/training/test_learned_maps.py; the one time a test-split figure decided is said below):
- Longer training helps meif, slowly: from EN 6.36, SD 40.9, SF 8.70, VIF 0.338 at 690 steps to SD 50.0,
  SF 11.2, VIF 0.508 at 4,600 and SD 51.5, SF 11.6, VIF 0.534 after the refine stage. Its P became
  content-dependent (v on the under-exposed source over blown highlights 0.58, 0.53 elsewhere; v on the
  over-exposed source over crushed shadows 0.499, 0.47 elsewhere), but weakly: a second refine stage brought
  both above 1/2 only by flattening v towards 1/2 everywhere (0.51 / 0.51) and was not shipped; constant-rate
  runs to 46 and 60 epochs let the global balance of v drift (0.47 / 0.57, then 0.50 / 0.54) and were not
  shipped either. Three more refine stages from the shipped model (numbers: v_a over blown, v_b over crushed,
  mean w_a, on the synthetic pair; train-split metrics on 16 pairs) show that at this length the global
  balance of P moves more from run to run than its content-dependent part is large: seed 1 gave 0.52 / 0.54
  but moved w_a from 0.48 to 0.70 (a darker, flatter fused image: SD 46.2 → 40.9, VIF 0.550 → 0.451);
  seed 1 with P's rate at 3e-4 gave 0.50 / 0.55, w_a 0.61; a meta batch of 8 crops (`--meta-batch 8`)
  kept F's quality (SD 46.3, VIF 0.545) but leant further to the under-exposed source, 0.61 / 0.45. The
  larger meta batch, a cleaner meta-gradient, followed that lean more, not less, which suggests that on this
  data (in 17 of the 68 train pairs, a third of the pixels are blown in the over-exposed shot and an eighth
  crushed in the under-exposed one) the meta-objective itself favours the under-exposed source's gradients
  at this training length. None shipped.
- A 30-epoch constant-rate mfif run collapsed to copying source A (v_a ≈ 0.998 everywhere, the fused image sharp
  only where A is) while its metrics looked better; a `cpu-refine` stage on the 6-epoch mfif model lost P's
  preference for the sharp source (v_a 0.47 on A's sharp half, 0.48 on its blurred half). Neither was shipped;
  tests guard against both.
- A `cpu-refine` stage on the ivif model changed its train-split metrics by a few percent either way
  (SF 9.85 → 10.07, SD 33.1 → 31.9 on 16 train pairs); on the mif model it made all six worse (SD 75.8 → 58.6,
  SF 25.8 → 19.7, SCD 1.35 → 0.88 on 16 train pairs). Neither was shipped: the refine stage helps a model that
  has trained long enough for its maps to settle (meif, 4,600 steps), not a 690- or 1,610-step one.
- Extending the ivif run from 14 to 24 constant-rate epochs (2,760 steps) raised four of the six metrics on
  16 train pairs (SD 33.1 → 34.8, SF 9.85 → 10.1) but lowered all six on the test split (SD 31.4 → 27.9,
  SF 8.40 → 8.05, SCD 1.51 → 1.40), which the model card's evaluation showed; the 14-epoch model stays. Train
  pairs the model has seen are no guide to held-out ones: choosing between candidates needs a validation
  part of the train split that training does not see. `scripts/train_defaults.py --holdout N` (and
  `refusion train --holdout N`, `refusion eval --split holdout --holdout N`) now provide it; every shipped model
  so far was trained on its whole train split.
What would close the gap, in order of expected effect: (1) the `paper` preset on a GPU (under an hour per task;
`python scripts/train_defaults.py --preset paper` on a machine with CUDA), where F has the steps to learn
more than an average, with `--holdout 16` to choose its length (extend with `--epochs`, compare on the
hold-out); (2) checking every candidate with scripts/check_maps.py and the tests before shipping, as done
here.
"""


def run_task(task: str, shared: Path, device: str, limit: int | None) -> dict:
    pairs = pairs_from_manifest(shared / "datasets" / "manifest.json", SETS[task], "test")[:limit]
    methods = []
    if default_weights_path(task).exists():
        methods.append(model_method(None, task, device, name=OURS))
    released = shared / "anchors" / "refusion_official" / f"ReFusion_{task.upper()}.pth"
    if released.exists():
        methods.append(model_method(released, task, device, name=RELEASED))
    methods += [baseline_method(n) for n in ["average", "laplacian"] + (["mertens"] if task == "meif" else [])]
    t0 = time.perf_counter()
    res = evaluate(methods, pairs, task)
    res["seconds"] = time.perf_counter() - t0
    return res


def cached(task: str) -> dict | None:
    """An earlier full-split evaluation of ``task`` with our current default weights (same SHA-256): this
    benchmark's own runs/bench_quality_<task>.json, or the model card's runs/eval_<task>.json
    (scripts/train_defaults.py evaluates the same methods the same way); else None."""
    weights = default_weights_path(task)
    if not weights.is_file():
        return None
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    for path in (REPO / "runs" / f"bench_quality_{task}.json", REPO / "runs" / f"eval_{task}.json"):
        if path.is_file():
            res = json.loads(path.read_text())
            if res.get("methods", {}).get(OURS, {}).get("sha256") == sha and not res.get("limit"):
                return res
    return None


def verdict(res: dict) -> str:
    """Where ours stands against the released checkpoint and the Laplacian pyramid on the paper metrics (issue 13's
    targets: at least as good as each on 4 of 6)."""
    m = res["methods"]
    if OURS not in m or RELEASED not in m:
        return "(ours or the released checkpoint missing: no comparison)"
    names = res["paper_metrics"]
    parts = []
    for other, label in ((RELEASED, "the released checkpoint"), ("laplacian", "the Laplacian pyramid")):
        if other in m:
            n = wins(m[OURS]["mean"], m[other]["mean"], names, res["higher_is_better"])
            parts.append(f"as {label} on {n} of {len(names)} ({'meets' if n >= 4 else 'misses'} the 4-of-6 goal)")
    return "On the paper metrics, ours is at least as good " + " and ".join(parts)


SECTION = re.compile(r"^## (\w+): ", re.M)


def merge_sections(old: str, new: dict[str, str]) -> str:
    """The task sections of a BENCHMARKS.md body (``old``: the text between its header and the gap section)
    with those of ``new`` (task -> section text) in their place, tasks missing from ``old`` added at the end; the
    sections of tasks not rerun are kept as they are."""
    starts = [(m.start(), m.group(1)) for m in SECTION.finditer(old)]
    kept = {task: old[a:b].rstrip() + "\n" for (a, task), (b, _) in zip(starts, starts[1:] + [(len(old), "")])}
    order = [task for _, task in starts] + [task for task in new if task not in kept]
    return "\n".join(new.get(task, kept.get(task, "")) for task in order)


KEPT_MARKER = "<!-- The sections below are written by hand; bench_quality.py keeps them when it rewrites this file. -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--limit", type=int, help="only the first N test pairs per task")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    ap.add_argument("--reuse", action="store_true", help="reuse a task's earlier full run if our weights are unchanged")
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        print("bench_quality: ../shared is not beside the checkout; nothing to benchmark", file=sys.stderr)
        return 2
    sections: dict[str, str] = {}
    cmd = " ".join(["python benchmarks/bench_quality.py", *sys.argv[1:]])
    for task in args.tasks:
        res = cached(task) if args.reuse and not args.limit else None
        if res is not None:
            print(f"{task}: reusing an earlier full evaluation with these weights")
        else:
            res = run_task(task, shared, args.device, args.limit)
            res["limit"] = args.limit
            (REPO / "runs").mkdir(exist_ok=True)
            (REPO / "runs" / f"bench_quality_{task}.json").write_text(json.dumps(res, indent=1))
        ref = RELEASED if RELEASED in res["methods"] else None
        table = markdown_table(res, res["paper_metrics"], reference=ref)
        print(f"\n== {task}: {SETS[task]} test split, {len(res['pairs'])} pairs ==\n{table}\n{verdict(res)}")
        made = f"Made by `{cmd}` on {time.strftime('%Y-%m-%d')} ({platform.machine()}, {args.device})"
        if OURS in res["methods"]:
            made += f"; ours = resources/weights/{task}.safetensors, SHA-256 {res['methods'][OURS]['sha256'][:12]}"
        sections[task] = (f"## {task}: {SETS[task]}, test split ({len(res['pairs'])} pairs)\n\n{made}.\n\n"
                          f"Paper metrics:\n\n{table}\n\n{verdict(res)}.\n\nAll metrics:\n\n"
                          f"{markdown_table(res, reference=ref)}\n")
    header = ("# Quality benchmark\n\nMeans over the test split of each set in ../shared/datasets (never used for "
              "training), made by benchmarks/bench_quality.py (each section says with which command and when). "
              "Metrics on the Y channel, 0..255, of each method's saved output; raw network output, no stretching; "
              "↑ higher is better, ↓ lower; best in bold.\n"
              "The released checkpoints are the authors' F, read from ../shared at run time (never shipped).\n")
    text = args.out.read_text() if args.out.exists() else ""
    kept = ""  # the hand-written sections after KEPT_MARKER (diagnostics, throughput, the campaign) survive
    if KEPT_MARKER in text:
        kept = "\n" + KEPT_MARKER + text.split(KEPT_MARKER, 1)[1]
    body = text.split(GAP.split("\n", 1)[0], 1)[0] if text else ""  # the task sections, up to the gap section
    body = body[SECTION.search(body).start():] if SECTION.search(body) else ""
    args.out.write_text(header + "\n" + merge_sections(body, sections) + "\n" + GAP + kept)
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
