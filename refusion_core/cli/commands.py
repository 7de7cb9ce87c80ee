"""The CLI's subcommands (parsing lives in :mod:`refusion_core.cli.main`)."""

from __future__ import annotations

import platform
import signal
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from refusion_core import TASKS, __version__
from refusion_core.cli.imaging import cmd_align, cmd_fuse_volume  # noqa: F401  (dispatched by name)
from refusion_core.errors import InputError, RunError
from refusion_core.io.images import (
    IMAGE_SUFFIXES,
    atomic_write_bytes,
    check_not_an_input,
    check_pair,
    from_float,
    read_image_exif,
    write_image,
)


def cmd_fuse(args) -> int:
    """Fuse a pair (maps available) or a stack of N > 2 images (balanced pairwise tree)."""
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.fusing.stack import fuse_stack
    from refusion_core.models.checkpoint import load_model

    paths, names = args.images, [p.name for p in args.images]
    check_out_suffix(args.out)
    check_not_an_input(args.out, paths)
    if len(paths) < 2:
        raise InputError("fuse needs at least two images")
    if args.maps and len(paths) > 2:
        raise InputError("--maps is only for pairs: P's weight maps compare two sources, and a stack is "
                         "fused in N - 1 pairwise steps")
    loaded = [read_image_exif(p) for p in paths]
    originals = [img for img, _ in loaded]
    for img, name in zip(originals[1:], names[1:]):
        check_pair(originals[0], img, (names[0], name))
    images = stretch_inputs(originals, names, args.stretch_input, args.percentiles)
    bundle = load_model(args.weights, args.task)
    if args.maps and not bundle.has_maps:
        print("refusion: note: this model has no loss proposal module P (released checkpoints hold F only); "
              "no maps written", file=sys.stderr)
    fuser = Fuser(bundle, args.device)
    with tqdm(total=len(paths) - 1, desc="fusing", unit="step", disable=None, leave=False) as bar:
        tick = lambda d, t: _bar_to(bar, d, t)  # noqa: E731
        if len(images) == 2:
            res = fuser.fuse(*images, stretch=args.stretch, progress=tick)
        else:
            res = fuse_stack(fuser, images, args.strategy, args.stretch, names, tick)
    depth = args.bit_depth or (16 if any(img.dtype == np.uint16 for img in originals) else 8)
    exif = None if args.no_exif else next((e for _, e in loaded if e), None)
    write_image(args.out, res.fused, depth, exif=exif)
    if args.maps and getattr(res, "maps", None):
        save_maps(args.maps, args.out.stem, res.maps)
    print(f"fused {' + '.join(names)} -> {args.out} ({fuser.device})")
    return 0


def check_out_suffix(out: Path) -> None:
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"Cannot write {out.name}: unknown image type (use .png or .tif)")


def stretch_inputs(images: list, names: list[str], spec: str, percentiles: str) -> list:
    """Apply ``--stretch-input`` (one mode, or one per image, comma-separated); a note per stretched image."""
    from refusion_core.io.scaling import prepare_input

    modes = [m.strip() for m in spec.split(",")]
    if len(modes) == 1:
        modes *= len(images)
    if len(modes) != len(images):
        raise InputError(f"--stretch-input has {len(modes)} modes for {len(images)} images; give one, or one "
                         "per image")
    try:
        lo, hi = (float(x) for x in percentiles.split(","))
    except ValueError:
        raise InputError(f"--percentiles takes LOW,HIGH (e.g. 0.5,99.5), not {percentiles!r}") from None
    out = []
    for img, name, mode in zip(images, names, modes):
        new = prepare_input(img, mode, (lo, hi))
        if new is not img:
            print(f"refusion: note: {name} stretched by its {lo:g}/{hi:g} percentiles to the full range",
                  file=sys.stderr)
        out.append(new)
    return out


def save_maps(folder: Path, stem: str, maps: dict[str, np.ndarray]) -> list[Path]:
    """Each map as a 16-bit PNG (0..65535 = 0..1) and as float32 .npy."""
    import io

    out = []
    for name, m in maps.items():
        out.append(write_image(folder / f"{stem}_{name}.png", from_float(m, np.uint16)))
        buf = io.BytesIO()
        np.save(buf, m.astype(np.float32))
        atomic_write_bytes(folder / f"{stem}_{name}.npy", buf.getvalue())
        out.append(folder / f"{stem}_{name}.npy")
    return out


def _bar_to(bar, done: int, total: int) -> None:
    bar.total = total
    bar.n = done
    bar.refresh()


def cmd_train(args) -> int:
    from refusion_core.training.data import holdout, pairs_from_dirs, pairs_from_manifest
    from refusion_core.training.settings import OVERRIDABLE, TrainSettings
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
    overrides = {k: getattr(args, k) for k in (*OVERRIDABLE, "ablation", "lr_schedule") if getattr(args, k) is not None}
    try:
        settings = TrainSettings.preset(args.preset, **overrides)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(f"loading {len(pairs)} pairs ...", file=sys.stderr)
    trainer = Trainer(settings, pairs, args.out, args.task, args.init, args.device)
    return drive(trainer)


def cmd_resume(args) -> int:
    from refusion_core.training.trainer import Trainer

    trainer = Trainer.resume(args.run_dir, args.device)
    print(f"resuming {args.run_dir} at step {trainer.step} of {trainer.total_steps}", file=sys.stderr)
    return drive(trainer)


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def drive(trainer) -> int:
    """Run a trainer with a progress bar. Ctrl-C, SIGTERM (docker stop, a cluster's pre-emption) and SIGHUP
    (logout) stop it between steps, cleanly: checkpoint and model are written. Returns 0 when the schedule
    finished, 128 + the signal's number when a signal stopped it (130 for Ctrl-C, 143 for SIGTERM), and says
    how to resume."""
    received: list[int] = []

    def stop(signum, _frame):
        received.append(signum)
        trainer.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    stopped = False
    try:
        with tqdm(total=trainer.total_steps, initial=trainer.step, unit="step", desc="training",
                  dynamic_ncols=True) as bar:
            for ev in trainer.run():
                if ev.kind == "step":
                    bar.update(ev.step - bar.n)
                    bar.set_postfix_str(_losses(ev), refresh=False)
                elif ev.kind in ("stopped", "done"):
                    bar.write(f"{ev.kind}: {ev.message}")
                    stopped = ev.kind == "stopped"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stopped:
        return 0
    print(f"refusion: training stopped by {signal.Signals(received[0]).name if received else 'request'}; "
          f"continue with: refusion resume {trainer.run_dir}", file=sys.stderr)
    return 128 + (received[0] if received else signal.SIGINT)


def _losses(ev) -> str:
    parts = [f"{ev.stage}"]
    for name in ("lf", "lr", "outer_lr"):
        v = getattr(ev, name)
        if v is not None:
            parts.append(f"{name}={v:.4f}")
    return " ".join(parts)


def cmd_eval(args) -> int:
    import json

    from refusion_core.metrics.evaluation import baseline_method, evaluate, markdown_table, model_method
    from refusion_core.training.data import holdout, pairs_from_dirs, pairs_from_manifest

    if args.manifest and not args.set_name:
        raise InputError("--manifest needs --set NAME (for example --set roadscene)")
    if (args.split == "holdout") != bool(args.holdout):
        raise InputError("--split holdout and --holdout N go together: N the number of pairs that "
                         "'refusion train --holdout N' left out of the same training pairs")
    if args.split == "holdout":
        train = pairs_from_dirs(*args.pairs) if args.pairs else pairs_from_manifest(args.manifest, args.set_name)
        pairs = holdout(train, args.holdout)[1][: args.limit]
    else:
        pairs = (pairs_from_dirs(*args.pairs) if args.pairs
                 else pairs_from_manifest(args.manifest, args.set_name, args.split))[: args.limit]
    methods = [model_method(w, args.task, args.device) for w in (args.weights or [None])] \
        if args.weights else [model_method(None, args.task, args.device, name="default")]
    if args.baselines:
        names = ["average", "laplacian"] + (["mertens"] if args.task == "meif" else [])
        methods += [baseline_method(n) for n in names]
    with tqdm(total=len(pairs) * len(methods), desc="evaluating", unit="fusion") as bar:
        result = evaluate(methods, pairs, args.task, progress=lambda d, t: _bar_to(bar, d, t))
    atomic_write_bytes(args.json, json.dumps(result, indent=1).encode())
    print(markdown_table(result, result["paper_metrics"]))
    print(f"per-pair metrics written to {args.json}")
    return 0


def cmd_info(args) -> int:
    if args.path:
        return _info_model(args.path)
    import torch

    from refusion_core.devices import cuda_usable
    from refusion_core.paths import default_weights_path, resources_dir, user_data_dir

    print(f"refusion {__version__}, python {platform.python_version()}, torch {torch.__version__}, "
          f"{platform.system()} {platform.machine()}")
    cuda = cuda_usable()
    print(f"device: {'cuda: ' + torch.cuda.get_device_name(0) if cuda else 'cpu'} "
          f"(CUDA {'available' if cuda else 'not available'}; torch built with CUDA {torch.version.cuda})")
    print(f"resources: {resources_dir()}")
    print(f"user data: {user_data_dir()}")
    for t in TASKS:
        p = default_weights_path(t)
        print(f"default weights {t:5s}: {p if p.exists() else 'missing'}")
    return 0


def _info_model(path: Path) -> int:
    from refusion_core.models.checkpoint import load_model

    bundle = load_model(path)
    print(f"{path}  sha256 {bundle.sha256[:16]}")
    for k, n in bundle.parameter_counts().items():
        print(f"  {k:15s} {n:>8,d} parameters")
    for k, v in bundle.meta.items():
        print(f"  {k}: {v}")
    return 0
