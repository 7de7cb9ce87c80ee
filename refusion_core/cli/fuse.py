"""``refusion fuse``: fuse a registered pair, or a stack of N > 2 images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from refusion_core.cli.common import Outputs, bar_to, check_output_file, check_output_folder, model_args, resolve_task
from refusion_core.errors import InputError

FORMATS = ("png", "tif")  # refusion_core.fusing.batch.FORMATS, without importing numpy for --help

if TYPE_CHECKING:
    import numpy as np


def register(sub) -> None:
    f = sub.add_parser("fuse", help="fuse two or more registered images, or folders of pairs",
                       description="Fuse a registered pair, or a stack of N > 2 images (fused pairwise in a "
                                   "balanced tree, neighbours first: give a focus stack in focus order) into -o OUT. "
                                   "Or fuse many pairs with the model loaded once: --pairs DIR_A DIR_B (matched by "
                                   "file stem) or --manifest FILE --set NAME, into --out-dir DIR as <stem>.png and "
                                   "<stem>.refusion.json (what made it); pairs already done with the same model "
                                   "and settings are skipped, so an interrupted run continues where it stopped")
    f.add_argument("images", nargs="*", type=Path, metavar="IMAGE", help="two or more images of one size")
    f.add_argument("-o", "--out", type=Path, help="output image (.png, .tif, .jpg); with IMAGEs")
    model_args(f)
    src = f.add_mutually_exclusive_group()
    src.add_argument("--pairs", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"),
                     help="fuse every pair of images with the same file stem in these two folders")
    src.add_argument("--manifest", type=Path, metavar="FILE", help="fuse the pairs of a manifest.json's set "
                     "(with --set and --split)")
    f.add_argument("--set", dest="set_name", metavar="NAME", help="with --manifest: the set, e.g. roadscene")
    f.add_argument("--split", choices=("train", "test"), default="test", help="with --manifest (default: test)")
    f.add_argument("--limit", type=int, metavar="N", help="with --pairs/--manifest: only the first N pairs")
    f.add_argument("--out-dir", type=Path, metavar="DIR", help="with --pairs/--manifest: the folder for the results")
    f.add_argument("--format", choices=FORMATS, default="png", help="with --pairs/--manifest: output image type "
                   "(default: png)")
    f.add_argument("--metrics", type=Path, metavar="CSV", help="with --pairs/--manifest: also write the task's "
                   "paper metrics, one row per pair")
    f.add_argument("--redo", action="store_true", help="with --pairs/--manifest: fuse every pair again, even those "
                   "already done")
    f.add_argument("--cluster", metavar="auto|local|ADDRESS", help="with --pairs/--manifest: fuse on a Ray cluster "
                   "(pip install \"refusion-studio[cluster]\"): auto joins the one RAY_ADDRESS names or one running "
                   "on this machine, else starts one here; local starts one here; ADDRESS joins that one (HEAD:6379 "
                   "or ray://HEAD:10001). Every node must see the images, the weights and --out-dir at the same "
                   "paths. Also writes OUT/results.jsonl, a line per pair (see docs/SCALING.md)")
    f.add_argument("--workers", type=int, metavar="N", help="with --cluster: the number of workers, each with the "
                   "model loaded once (default: one per GPU, else one per 2 CPUs)")
    f.add_argument("--maps", type=Path, metavar="DIR", help="also write wa, wb, va, vb (16-bit PNG + .npy); "
                   "a single pair only")
    f.add_argument("--stretch", action="store_true", help="min-max stretch the fused luminance")
    f.add_argument("--bit-depth", type=int, choices=(8, 16), help="output bit depth (default: 16 if any input is)")
    f.add_argument("--stretch-input", default="auto", metavar="MODE[,MODE...]",
                   help="auto (default: stretch 16-bit grey images that use at most a quarter of 0..65535, "
                        "like raw thermal), none or percentile; one mode, or one per image (A and B for pairs)")
    f.add_argument("--percentiles", default="0.5,99.5", metavar="LOW,HIGH",
                   help="percentiles of the valid pixels mapped to 0 and 1 by the input stretch")
    f.add_argument("--strategy", choices=("tree", "chain"), default="tree", help="order of the pairwise "
                   "fusions for N > 2 (default: tree)")
    f.add_argument("--no-exif", action="store_true", help="do not copy the first input's EXIF to the output")
    f.set_defaults(func=run)


BATCH_ONLY = ("set_name", "limit", "out_dir", "metrics", "cluster", "workers")
"""Options that belong to --pairs/--manifest (their defaults are None)."""


def run(args) -> int:
    """A single fusion (IMAGEs and -o) or a batch (--pairs / --manifest and --out-dir)."""
    batch = args.pairs is not None or args.manifest is not None
    if batch and args.images:
        raise InputError("Give either the images to fuse (IMAGE IMAGE ... -o OUT) or --pairs/--manifest with "
                         "--out-dir, not both")
    if not batch:
        if not args.images:
            raise InputError("Nothing to fuse: give two or more images and -o OUT, or --pairs DIR_A DIR_B "
                             "(or --manifest FILE --set NAME) and --out-dir DIR")
        given = [n for n in BATCH_ONLY if getattr(args, n) is not None] + (["redo"] if args.redo else [])
        if given:
            flag = "--" + given[0].replace("set_name", "set").replace("_", "-")
            raise InputError(f"{flag} is for fusing folders (--pairs or --manifest); a single fusion writes -o OUT")
        return run_single(args)
    return run_batch(args)


def run_single(args) -> int:
    """Fuse a pair (maps available) or a stack of N > 2 images (balanced pairwise tree)."""
    import numpy as np
    from tqdm import tqdm

    from refusion_core.fusing.fuser import Fuser
    from refusion_core.fusing.stack import fuse_stack
    from refusion_core.io.images import check_not_an_input, check_pair, read_image_exif, write_image
    from refusion_core.models.checkpoint import load_model

    paths, names = args.images, [p.name for p in args.images]
    if len(paths) < 2:
        raise InputError("fuse needs at least two images")
    if args.out is None:
        raise InputError("-o OUT is required: the file to write the fused image to")
    task = resolve_task(args.task, args.weights)
    check_out_suffix(args.out)
    check_not_an_input(args.out, paths)
    check_output_file(args.out)
    if args.maps:
        check_output_folder(args.maps)
    if args.maps and len(paths) > 2:
        raise InputError("--maps is only for pairs: P's weight maps compare two sources, and a stack is "
                         "fused in N - 1 pairwise steps")
    loaded = [read_image_exif(p) for p in paths]
    originals = [img for img, _ in loaded]
    for img, name in zip(originals[1:], names[1:]):
        check_pair(originals[0], img, (names[0], name))
    images = stretch_inputs(originals, names, args.stretch_input, args.percentiles)
    bundle = load_model(args.weights, task)
    if args.maps and not bundle.has_maps:
        print("refusion: note: this model has no loss proposal module P (released checkpoints hold F only); "
              "no maps written", file=sys.stderr)
    fuser = Fuser(bundle, args.device)
    with tqdm(total=len(paths) - 1, desc="fusing", unit="step", disable=None, leave=False) as bar:
        tick = lambda d, t: bar_to(bar, d, t)  # noqa: E731
        if len(images) == 2:
            res = fuser.fuse(*images, stretch=args.stretch, progress=tick)
        else:
            res = fuse_stack(fuser, images, args.strategy, args.stretch, names, tick)
    depth = args.bit_depth or (16 if any(img.dtype == np.uint16 for img in originals) else 8)
    exif = None if args.no_exif else next((e for _, e in loaded if e), None)
    with Outputs() as outputs:  # the image and the maps, or nothing
        outputs.add(args.out)
        if args.maps and getattr(res, "maps", None):
            outputs.folder(args.maps)
            for name in res.maps:
                outputs.add(args.maps / f"{args.out.stem}_{name}.png")
                outputs.add(args.maps / f"{args.out.stem}_{name}.npy")
            save_maps(args.maps, args.out.stem, res.maps)
        write_image(args.out, res.fused, depth, exif=exif)
    print(f"fused {' + '.join(names)} -> {args.out} ({fuser.device})")
    return 0


def check_out_suffix(out: Path) -> None:
    from refusion_core.io.images import IMAGE_SUFFIXES

    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"Cannot write {out.name}: unknown image type (use .png or .tif)")


def stretch_inputs(images: list, names: list[str], spec: str, percentiles: str) -> list:
    """Apply ``--stretch-input`` (one mode, or one per image, comma-separated); a note per stretched image."""
    from refusion_core.io.scaling import prepare_input

    modes, (lo, hi) = parse_stretch(spec, len(images), percentiles)
    out = []
    for img, name, mode in zip(images, names, modes):
        new = prepare_input(img, mode, (lo, hi))
        if new is not img:
            print(f"refusion: note: {name} stretched by its {lo:g}/{hi:g} percentiles to the full range",
                  file=sys.stderr)
        out.append(new)
    return out


def parse_stretch(spec: str, count: int, percentiles: str) -> tuple[list[str], tuple[float, float]]:
    """``--stretch-input`` as one mode per image (one given: the same for all) and ``--percentiles`` as numbers."""
    from refusion_core.io.scaling import STRETCH_MODES

    modes = [m.strip() for m in spec.split(",")]
    if len(modes) == 1:
        modes *= count
    if len(modes) != count:
        raise InputError(f"--stretch-input has {len(modes)} modes for {count} images; give one, or one "
                         "per image")
    bad = next((m for m in modes if m not in STRETCH_MODES), None)
    if bad is not None:
        raise InputError(f"Unknown input stretch {bad!r}; use one of {', '.join(STRETCH_MODES)}")
    try:
        lo, hi = (float(x) for x in percentiles.split(","))
    except ValueError:
        raise InputError(f"--percentiles takes LOW,HIGH (e.g. 0.5,99.5), not {percentiles!r}") from None
    if not 0 <= lo < hi <= 100:
        raise InputError(f"--percentiles {percentiles}: LOW must be below HIGH, both from 0 to 100 (e.g. 0.5,99.5)")
    return modes, (lo, hi)


def run_batch(args) -> int:
    """Fuse the pairs of two folders or of a manifest's set into --out-dir, the model loaded once (here, or once per
    worker of a Ray cluster with --cluster); a progress bar, then a line per failed pair and a summary. Exit status
    0 when every pair is done (written now or before), 1 when some failed (the others are written)."""
    from refusion_core.fusing.batch import BatchOptions, plan_outputs
    from refusion_core.training.data import pairs_from_dirs, pairs_from_manifest

    pairs = _batch_pairs(args, pairs_from_dirs, pairs_from_manifest)
    if args.out_dir is None:
        raise InputError("--out-dir DIR is required with --pairs/--manifest: the folder for the fused images")
    if args.out is not None or args.maps is not None:
        raise InputError(f"{'-o' if args.out is not None else '--maps'} is for a single fusion; with --pairs/"
                         "--manifest each pair's image is written into --out-dir as <stem>.png")
    if args.workers is not None and args.cluster is None:
        raise InputError("--workers is for --cluster (a Ray cluster); without it the pairs are fused here, one "
                         "at a time")
    check_output_folder(args.out_dir)
    if args.metrics is not None:
        check_output_file(args.metrics)
    modes, percentiles = parse_stretch(args.stretch_input, 2, args.percentiles)
    task = resolve_task(args.task, args.weights)
    jobs = plan_outputs(pairs, args.out_dir, args.format)
    options = BatchOptions(task, tuple(modes), percentiles, args.stretch, args.bit_depth, not args.no_exif,
                           args.metrics is not None)
    fuse = _fuse_here if args.cluster is None else _fuse_on_cluster
    done = fuse(args, jobs, options)
    if done is None:
        return 130
    records, model, where = done
    return _report(args, jobs, records, model, task, where)


def _fuse_here(args, jobs, options):
    """(records, model record, where it ran) of a single-process run, or None when interrupted."""
    from refusion_core.fusing.batch import PairFuser, fuse_pairs
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model

    fuser = Fuser(load_model(args.weights, options.task), args.device)
    pair_fuser = PairFuser(fuser, options, kind="default" if args.weights is None else None)
    records = _collect(fuse_pairs(jobs, pair_fuser, args.redo), jobs, args.out_dir)
    return None if records is None else (records, pair_fuser.model, str(fuser.device))


def _fuse_on_cluster(args, jobs, options):
    """(records, model record, where it ran) of a run on Ray (--cluster), or None when interrupted; writes
    OUT/results.jsonl (:func:`refusion_core.cluster.results.write_results`) at the end."""
    import logging

    from refusion_core.cluster.ray_fuse import RayBatch
    from refusion_core.cluster.results import write_results

    level = logging.ERROR if args.quiet or not args.verbose else logging.WARNING if args.verbose == 1 else logging.INFO
    batch = RayBatch(options.task, args.weights, options, kind="default" if args.weights is None else None,
                     cluster=args.cluster, workers=args.workers, device=args.device, log_level=level)
    records = _collect(batch.run(jobs, args.redo), jobs, args.out_dir)
    if records is None:
        return None
    results = write_results(args.out_dir, jobs, records, batch.model["sha256"], options.metrics)
    where = batch.pool.describe() if batch.pool is not None else "Ray: nothing left to fuse"
    return records, batch.model, f"{where}; results in {results}"


def _collect(records, jobs, out_dir) -> list | None:
    """The records, with a progress bar as they come; None (after saying so) on Ctrl+C."""
    from tqdm import tqdm

    done = []
    try:
        for record in tqdm(records, total=len(jobs), desc="fusing", unit="pair", dynamic_ncols=True, disable=None):
            done.append(record)
    except KeyboardInterrupt:
        kept = sum(r.status != "failed" for r in done)
        print(f"refusion: interrupted after {kept} of {len(jobs)} pairs; they are kept in {out_dir}: run the "
              "same command again to do the rest", file=sys.stderr)
        return None
    finally:
        getattr(records, "close", lambda: None)()  # a generator's own cleanup (a Ray cluster's shutdown) now
    return done


def _report(args, jobs, records, model, task: str, where: str) -> int:
    """A line per failed pair, the metrics CSV, the summary; the exit status."""
    from refusion_core.fusing.batch import metrics_csv
    from refusion_core.io.images import atomic_write_bytes
    from refusion_core.metrics import PAPER_METRICS

    failed = [r for r in records if r.status == "failed"]
    order = {job.name: i for i, job in enumerate(jobs)}
    for r in sorted(failed, key=lambda r: order[r.job.name]):
        where_from = " + ".join(f"{p.parent.name}/{p.name}" for p in (r.job.a, r.job.b))
        print(f"refusion: failed: {r.job.name} ({where_from}): {r.error}", file=sys.stderr)
    if args.metrics is not None:
        names = list(PAPER_METRICS[task])
        ordered = sorted(records, key=lambda r: order[r.job.name])
        with Outputs() as written:
            written.add(args.metrics)
            atomic_write_bytes(args.metrics, metrics_csv(ordered, names, model).encode())
    counts = {s: sum(r.status == s for r in records) for s in ("written", "skipped", "failed")}
    print(f"fused {len(jobs) - counts['failed']} of {len(jobs)} pairs into {args.out_dir} ({counts['written']} "
          f"written, {counts['skipped']} already done, {counts['failed']} failed; {task}, {where})"
          + (f"; metrics in {args.metrics}" if args.metrics is not None else ""))
    return 1 if failed else 0


def _batch_pairs(args, pairs_from_dirs, pairs_from_manifest) -> list:
    if args.manifest is not None and not args.set_name:
        raise InputError("--manifest needs --set NAME (for example --set roadscene)")
    if args.pairs is not None and args.set_name:
        raise InputError("--set is for --manifest; --pairs fuses every pair the two folders hold")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit {args.limit}: give a number of pairs of at least 1")
    pairs = (pairs_from_dirs(*args.pairs) if args.pairs is not None
             else pairs_from_manifest(args.manifest, args.set_name, args.split))
    return pairs[: args.limit]


def save_maps(folder: Path, stem: str, maps: dict[str, np.ndarray]) -> list[Path]:
    """Each map as a 16-bit PNG (0..65535 = 0..1) and as float32 .npy."""
    import io

    import numpy as np

    from refusion_core.io.images import atomic_write_bytes, from_float, write_image

    out = []
    for name, m in maps.items():
        out.append(write_image(folder / f"{stem}_{name}.png", from_float(m, np.uint16)))
        buf = io.BytesIO()
        np.save(buf, m.astype(np.float32))
        atomic_write_bytes(folder / f"{stem}_{name}.npy", buf.getvalue())
        out.append(folder / f"{stem}_{name}.npy")
    return out
