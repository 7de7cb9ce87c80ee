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
GAP_HEADING = "## Where ours falls short, and what would close the gap"
# The gap section is written by hand (it follows the campaign); a fresh file gets this placeholder
GAP = GAP_HEADING + "\n\nWhat each default still lacks against the targets of issue 13, per task (written by hand).\n"


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


def compose(text: str, header: str, sections: dict[str, str]) -> str:
    """The benchmark file: ``header``, the task sections (``sections`` replacing those of ``text``, the others kept),
    then what ``text`` has written by hand: the gap section and everything after KEPT_MARKER (the diagnostics,
    throughput, the campaign). The gap section follows the campaign, so a rerun never rewrites it."""
    kept = ""
    if KEPT_MARKER in text:
        kept = "\n" + KEPT_MARKER + text.split(KEPT_MARKER, 1)[1]
    first = SECTION.search(text)  # the task sections: from the first one up to the gap section
    body = text[first.start():].split(GAP_HEADING, 1)[0] if first else ""
    gap = GAP
    if GAP_HEADING in text:
        gap = GAP_HEADING + text.split(GAP_HEADING, 1)[1].split(KEPT_MARKER, 1)[0].rstrip() + "\n"
    return header + "\n" + merge_sections(body, sections) + "\n" + gap + kept


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
    args.out.write_text(compose(args.out.read_text() if args.out.exists() else "", header, sections))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
