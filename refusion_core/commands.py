"""The CLI's subcommands (parsing lives in :mod:`refusion_core.cli`)."""

from __future__ import annotations

import platform
import signal
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import TASKS, __version__
from .errors import InputError, RefusionError, RunError
from .imageio import IMAGE_SUFFIXES, atomic_write_bytes, check_pair, from_float, read_image, write_image


def cmd_fuse(args) -> int:
    from .checkpoint import load_model
    from .inference import Fuser

    if args.out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"Cannot write {args.out.name}: unknown image type (use .png or .tif)")
    a, b = read_image(args.a), read_image(args.b)
    check_pair(a, b, (args.a.name, args.b.name))
    bundle = load_model(args.weights, args.task)
    if args.maps and not bundle.has_maps:
        print("refusion: note: this model has no loss proposal module P (released checkpoints hold F only); "
              "no maps written", file=sys.stderr)
    fuser = Fuser(bundle, args.device)
    with tqdm(total=1, desc="fusing", unit="tile", disable=None, leave=False) as bar:
        res = fuser.fuse(a, b, stretch=args.stretch, progress=lambda d, t: _bar_to(bar, d, t))
    write_image(args.out, res.fused, args.bit_depth)
    if args.maps and res.maps:
        save_maps(args.maps, args.out.stem, res.maps)
    print(f"fused {args.a.name} + {args.b.name} -> {args.out} ({fuser.device})")
    return 0


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
    from .data import pairs_from_dirs, pairs_from_manifest
    from .settings import TrainSettings
    from .trainer import CKPT_FILE, Trainer

    if args.manifest and not args.set_name:
        raise InputError("--manifest needs --set NAME (for example --set roadscene)")
    pairs = pairs_from_dirs(*args.pairs) if args.pairs else pairs_from_manifest(args.manifest, args.set_name)
    if (args.out / CKPT_FILE).exists():
        raise RunError(f"{args.out} already holds a run; continue it with 'refusion resume {args.out}' "
                       "or choose another --out")
    overrides = {k: getattr(args, k) for k in ("epochs", "meta_steps", "fuse_steps", "crop", "batch", "seed",
                                               "inner_lr", "checkpoint_every", "ablation")
                 if getattr(args, k) is not None}
    try:
        settings = TrainSettings.preset(args.preset, **overrides)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(f"loading {len(pairs)} pairs ...", file=sys.stderr)
    trainer = Trainer(settings, pairs, args.out, args.task, args.init, args.device)
    return drive(trainer)


def cmd_resume(args) -> int:
    from .trainer import Trainer

    trainer = Trainer.resume(args.run_dir, args.device)
    print(f"resuming {args.run_dir} at step {trainer.step} of {trainer.total_steps}", file=sys.stderr)
    return drive(trainer)


def drive(trainer) -> int:
    """Run a trainer with a progress bar; Ctrl-C stops it cleanly (checkpoint + model saved)."""
    previous = signal.signal(signal.SIGINT, lambda *_: trainer.request_stop())
    try:
        with tqdm(total=trainer.total_steps, initial=trainer.step, unit="step", desc="training",
                  dynamic_ncols=True) as bar:
            for ev in trainer.run():
                if ev.kind == "step":
                    bar.update(ev.step - bar.n)
                    bar.set_postfix_str(_losses(ev), refresh=False)
                elif ev.kind in ("stopped", "done"):
                    bar.write(f"{ev.kind}: {ev.message}")
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def _losses(ev) -> str:
    parts = [f"{ev.stage}"]
    for name in ("lf", "lr", "outer_lr"):
        v = getattr(ev, name)
        if v is not None:
            parts.append(f"{name}={v:.4f}")
    return " ".join(parts)


def cmd_eval(args) -> int:
    import json

    from .data import pairs_from_dirs, pairs_from_manifest
    from .evaluation import baseline_method, evaluate, markdown_table, model_method

    if args.manifest and not args.set_name:
        raise InputError("--manifest needs --set NAME (for example --set roadscene)")
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

    from .devices import cuda_usable
    from .paths import default_weights_path, resources_dir, user_data_dir

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
    from .checkpoint import load_model

    bundle = load_model(path)
    print(f"{path}  sha256 {bundle.sha256[:16]}")
    for k, n in bundle.parameter_counts().items():
        print(f"  {k:15s} {n:>8,d} parameters")
    for k, v in bundle.meta.items():
        print(f"  {k}: {v}")
    return 0
