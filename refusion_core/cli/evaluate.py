"""``refusion eval``: metrics of one or more models and classical baselines on a set of pairs."""

from __future__ import annotations

from pathlib import Path

from refusion_core import TASKS
from refusion_core.cli.common import TASK_HELP, Outputs, bar_to, check_output_file, resolve_task
from refusion_core.errors import InputError


def register(sub) -> None:
    e = sub.add_parser("eval", help="metrics of one or more models and classical baselines on a set of pairs")
    e.add_argument("--task", choices=TASKS, help=TASK_HELP)
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"))
    src.add_argument("--manifest", type=Path)
    e.add_argument("--set", dest="set_name")
    e.add_argument("--split", default="test", choices=("train", "test", "holdout"),
                   help="holdout: the pairs that 'refusion train --holdout N' left out of the train split (or of --pairs)")
    e.add_argument("--holdout", type=int, default=0, metavar="N", help="with --split holdout")
    e.add_argument("--weights", type=Path, nargs="+", help="models (default: the task's default weights)")
    e.add_argument("--baselines", action="store_true", help="also average, Laplacian pyramid (and Mertens for meif)")
    e.add_argument("--limit", type=int, help="only the first N pairs")
    e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    e.add_argument("--json", type=Path, required=True, metavar="OUT")
    e.set_defaults(func=run)


def run(args) -> int:
    import json

    from tqdm import tqdm

    from refusion_core.io.images import atomic_write_bytes
    from refusion_core.metrics.evaluation import baseline_method, evaluate, markdown_table, model_method
    from refusion_core.training.data import holdout, pairs_from_dirs, pairs_from_manifest

    if args.manifest and not args.set_name:
        raise InputError("--manifest needs --set NAME (for example --set roadscene)")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit {args.limit}: give a number of pairs of at least 1")
    check_output_file(args.json)
    if (args.split == "holdout") != bool(args.holdout):
        raise InputError("--split holdout and --holdout N go together: N the number of pairs that "
                         "'refusion train --holdout N' left out of the same training pairs")
    if args.split == "holdout":
        train = pairs_from_dirs(*args.pairs) if args.pairs else pairs_from_manifest(args.manifest, args.set_name)
        pairs = holdout(train, args.holdout)[1][: args.limit]
    else:
        pairs = (pairs_from_dirs(*args.pairs) if args.pairs
                 else pairs_from_manifest(args.manifest, args.set_name, args.split))[: args.limit]
    if not pairs:
        raise InputError("No pairs to evaluate")
    task = args.task = resolve_task(args.task, args.weights or ())
    methods = [model_method(w, task, args.device) for w in (args.weights or [None])] \
        if args.weights else [model_method(None, task, args.device, name="default")]
    if args.baselines:
        names = ["average", "laplacian"] + (["mertens"] if task == "meif" else [])
        methods += [baseline_method(n) for n in names]
    with tqdm(total=len(pairs) * len(methods), desc="evaluating", unit="fusion") as bar:
        result = evaluate(methods, pairs, task, progress=lambda d, t: bar_to(bar, d, t))
    with Outputs() as written:
        written.add(args.json)
        atomic_write_bytes(args.json, json.dumps(result, indent=1).encode())
    print(markdown_table(result, result["paper_metrics"]))
    print(f"per-pair metrics written to {args.json}")
    return 0
