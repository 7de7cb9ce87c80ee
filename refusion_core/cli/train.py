"""``refusion train``: train or fine-tune with Algorithm 1; :func:`drive` runs a trainer (also for resume).

``--distributed``: one of several processes started by torchrun (one per GPU, or CPU workers), e.g.
``torchrun --nproc-per-node 4 -m refusion_core.cli train ... --distributed``. Every process runs this command
with the same arguments; ``--batch`` (and ``--meta-batch``) are per process, so the effective batch is
world size × batch (keep the learning rates, or scale them, as for any larger batch). Rank 0 writes the run
folder, which every process must be able to read for ``refusion resume RUN --distributed``, with any number of
processes (see :mod:`refusion_core.training.trainer`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

from refusion_core import TASKS
from refusion_core.cli.common import TASK_HELP, check_output_folder, resolve_task
from refusion_core.errors import InputError, RunError
from refusion_core.training.settings import ABLATIONS, OVERRIDABLE, PRESETS, START_FIELDS, with_start_settings


def register(sub) -> None:
    t = sub.add_parser("train", help="train or fine-tune with Algorithm 1 (meta-learned loss)")
    t.add_argument("--task", choices=TASKS, help=TASK_HELP.replace("--weights", "--init"))
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"), help="pairs matched by stem")
    src.add_argument("--manifest", type=Path, help="a manifest.json (its train split is used)")
    t.add_argument("--set", dest="set_name", help="the set in the manifest, e.g. roadscene")
    t.add_argument("--preset", choices=list(PRESETS), default="quick")
    t.add_argument("--init", type=Path, metavar="MODEL", help="fine-tune: the weights to start from, a project "
                   ".safetensors, a released .pth, or 'default' for the task's default weights (without --init "
                   "training starts from random weights)")
    t.add_argument("--out", type=Path, required=True, metavar="RUN_DIR")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    for name, typ in OVERRIDABLE.items():
        t.add_argument(f"--{name.replace('_', '-')}", type=typ, help="override the preset")
    t.add_argument("--lr-schedule", choices=("constant", "cosine"), help="override the preset")
    t.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="leave N of the training pairs out, for choosing between candidates "
                        "(refusion eval --split holdout --holdout N)")
    t.add_argument("--ablation", choices=[a for a in ABLATIONS if a], help="Table 5 ablation switch")
    t.add_argument("--fixed-w", action="store_true", default=None,
                   help="hold w at 1/2 everywhere and learn only v (the paper's multi-focus and exposure maps)")
    t.add_argument("--tie-w", type=float, default=None, metavar="SCALE",
                   help="make w follow v: w = softmax(SCALE x P's v logits); 1: w equal to v (0: learnt by P)")
    add_distributed(t)
    t.set_defaults(func=run)


def add_distributed(parser) -> None:
    parser.add_argument("--distributed", action="store_true",
                        help="one of several processes started by torchrun (torchrun --nproc-per-node N -m "
                             "refusion_core.cli train ... --distributed): gradients averaged over processes, rank 0 "
                             "writes the run folder; --batch is per process (effective batch: N x batch); NCCL on "
                             "CUDA (cuda:LOCAL_RANK), gloo on the CPU")


def run(args) -> int:
    from refusion_core.training.data import holdout, pairs_from_dirs, pairs_from_manifest
    from refusion_core.training.settings import TrainSettings
    from refusion_core.training.trainer import CKPT_FILE, Trainer

    if args.manifest and not args.set_name:
        raise InputError("--manifest needs --set NAME (for example --set roadscene)")
    pairs = pairs_from_dirs(*args.pairs) if args.pairs else pairs_from_manifest(args.manifest, args.set_name)
    if args.holdout:
        pairs, val = holdout(pairs, args.holdout)
        print(f"holding out {len(val)} pairs for validation (refusion eval --split holdout --holdout "
              f"{args.holdout}); training on {len(pairs)}", file=sys.stderr)
    if (args.out / CKPT_FILE).exists():
        raise RunError(f"{args.out} already holds a run; continue it with 'refusion resume {args.out}' "
                       "or choose another --out")
    check_output_folder(args.out)
    if len(pairs) < 2:
        raise InputError(f"Meta-learning needs at least 2 training pairs (disjoint meta-train and meta-test "
                         f"halves); found {len(pairs)}")
    args.task, args.init = init_and_task(args.task, args.init)
    overrides = {k: getattr(args, k) for k in (*OVERRIDABLE, "ablation", "lr_schedule", "fixed_w", "tie_w")
                 if getattr(args, k) is not None}
    try:
        settings = TrainSettings.preset(args.preset, **overrides)
    except ValueError as err:
        raise InputError(str(err)) from None
    # a fine-tune keeps the loss and the augmentation its start was trained with; --gradient-scale etc. win
    settings = with_start_settings(settings, args.init, args.task, [f for f in START_FIELDS if getattr(args, f) is None])
    created = not args.out.exists()
    try:
        with process_group(args) as device:
            if not _is_other_rank(args):
                print(f"loading {len(pairs)} pairs ...", file=sys.stderr)
            trainer = Trainer(settings, pairs, args.out, args.task, args.init, device)
            return drive(trainer)
    except BaseException:
        # a run that failed before its first checkpoint (bad data, a full disk) leaves no half-made folder;
        # one with a checkpoint is kept, whatever happened, so that it can be resumed (rank 0 alone cleans up)
        if created and not (args.out / CKPT_FILE).exists() and not _is_other_rank(args):
            shutil.rmtree(args.out, ignore_errors=True)
        raise


def init_and_task(task: str | None, init: Path | None) -> tuple[str, Path | None]:
    """(the task, the weights file to start from): ``--init default`` is the task's default weights (so --task is
    needed with it); another --init may say the task itself (see :func:`resolve_task`)."""
    from refusion_core.paths import default_weights_path

    if init is not None and str(init) == "default":
        if task is None:
            raise InputError("--init default needs --task: the default weights are per task (ivif, mif, mfif, meif)")
        init = default_weights_path(task)
        if not init.is_file():
            raise InputError(f"No default weights for task {task!r} ({init} is missing); give --init a model file")
        return task, init
    if init is not None and not Path(init).is_file():
        raise InputError(f"Weights file not found: {init}")
    return resolve_task(task, init, option="--init"), init


@contextlib.contextmanager
def process_group(args):
    """The device to train on; with ``--distributed``, inside torchrun's process group (left at the end)."""
    if not getattr(args, "distributed", False):
        yield args.device
        return
    from refusion_core.training import distributed

    device = distributed.setup(args.device)
    try:
        yield device
    finally:
        distributed.teardown()


def _is_other_rank(args) -> bool:
    return bool(getattr(args, "distributed", False)) and os.environ.get("RANK", "0") != "0"


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def drive(trainer, announce: str | None = None) -> int:
    """Run a trainer with a progress bar. Ctrl-C, SIGTERM (docker stop, a cluster's pre-emption) and SIGHUP
    (logout) stop it between steps, cleanly: checkpoint and model are written. Returns 0 when the schedule
    finished, 128 + the signal's number when a signal stopped it (130 for Ctrl-C, 143 for SIGTERM), and says
    how to resume. ``announce`` is printed once the run has started (its folder locked), so that a run that
    cannot start says only why. With several processes only rank 0 shows progress and messages."""
    from tqdm import tqdm

    from refusion_core.training.distributed import is_main, world_size

    main = is_main()
    received: list[int] = []

    def stop(signum, _frame):
        received.append(signum)
        trainer.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    stopped = False
    try:
        with tqdm(total=trainer.total_steps, initial=trainer.step, unit="step", desc="training",
                  dynamic_ncols=True, disable=not main) as bar:
            for ev in trainer.run():
                if announce and main:
                    bar.write(announce, file=sys.stderr)
                    announce = None
                if ev.kind == "step":
                    bar.update(ev.step - bar.n)
                    bar.set_postfix_str(_losses(ev), refresh=False)
                elif ev.kind in ("stopped", "done"):
                    if main:
                        bar.write(f"{ev.kind}: {ev.message}")
                    stopped = ev.kind == "stopped"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stopped:
        return 0
    if main:
        how = " --distributed (under torchrun, with any number of processes)" if world_size() > 1 else ""
        print(f"refusion: training stopped by {signal.Signals(received[0]).name if received else 'request'}; "
              f"continue with: refusion resume {trainer.run_dir}{how}", file=sys.stderr)
    return 128 + (received[0] if received else signal.SIGINT)


def _losses(ev) -> str:
    parts = [f"{ev.stage}"]
    for name in ("lf", "lr", "outer_lr"):
        v = getattr(ev, name)
        if v is not None:
            parts.append(f"{name}={v:.4f}")
    return " ".join(parts)
