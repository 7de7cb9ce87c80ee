"""The CLI's ``align`` and ``fuse-volume`` subcommands (parsing lives in :mod:`refusion_core.cli.main`)."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from refusion_core.errors import InputError
from refusion_core.io.images import check_not_an_input, read_image_exif, write_image
from refusion_core.registration.report import write_transforms_report


def cmd_align(args) -> int:
    """Register each MOVING image to REF; write them (named like the inputs) and transforms.json into DIR.

    Everything is estimated before anything is written, so a failure leaves DIR as it was. With --crop
    the reference, cropped to the common area, is written too (so the folder holds a matching set).
    """
    from refusion_core.registration.align import align_stack

    outputs = _output_paths(args.ref, args.moving, args.out, args.crop)
    ref, ref_exif = read_image_exif(args.ref)
    loaded = [read_image_exif(p) for p in args.moving]
    frames = [img for img, _ in loaded]
    transforms = _transforms(args, ref, frames)
    names = [args.ref.name] + [p.name for p in args.moving]
    res = align_stack(ref, frames, args.model, crop=args.crop, transforms=transforms, names=names)
    exifs = [None if args.no_exif else e for _, e in loaded]
    for (img, exif), path in zip(zip(res.frames, exifs), outputs[1:]):
        write_image(path, img, exif=exif)
    if args.crop:
        write_image(outputs[0], res.reference, exif=None if args.no_exif else ref_exif)
    write_transforms_report(args.out, args.ref, args.moving, args.model, res, outputs, args.crop)
    for p, t in zip(args.moving, res.transforms):
        score = f"{t.inliers} inliers" if t.inliers is not None else f"ECC {t.correlation:.3f}"
        print(f"aligned {p.name} -> {args.out / p.name} ({t.method}, {t.model}, {score})")
    return 0


def _output_paths(ref: Path, moving: list[Path], out: Path, crop: bool) -> list[Path]:
    """[reference output, moving outputs...]; refuses duplicates and overwriting an input."""
    paths = [out / ref.name] + [out / p.name for p in moving]
    written = paths if crop else paths[1:]
    if len({p.name for p in written}) != len(written):
        raise InputError("Two of the images to write have the same file name; rename one or align them "
                         "into separate folders")
    for p in written:
        check_not_an_input(p, [ref, *moving])
    return paths


def _transforms(args, ref, frames) -> list:
    """Per frame: from control points (optionally refined by ECC), or estimated by --method."""
    from refusion_core.registration.align import estimate_transform, read_control_points, transform_from_points

    points = read_control_points(args.points, [p.name for p in args.moving]) if args.points else {}
    method = args.method or "features"
    out = []
    with tqdm(total=len(frames), desc="registering", unit="image", disable=None, leave=False) as bar:
        for path, frame in zip(args.moving, frames):
            names = (args.ref.name, path.name)
            if path.name in points:
                t = transform_from_points(*points[path.name], args.model)
                if args.method in ("ecc", "ecc-edges"):
                    t = estimate_transform(ref, frame, args.model, args.method, init=t, names=names)
            else:
                t = estimate_transform(ref, frame, args.model, method, names=names)
            out.append(t)
            bar.update(1)
    return out


def cmd_fuse_volume(args) -> int:
    """Fuse two co-registered volumes slice by slice into a NIfTI file (research use, not diagnosis)."""
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.medical.volumes import NIFTI_SUFFIXES, check_same_grid, fuse_volumes, read_volume, write_nifti
    from refusion_core.medical.windowing import parse_window
    from refusion_core.models.checkpoint import load_model

    if not args.out.name.lower().endswith(NIFTI_SUFFIXES):
        raise InputError(f"Cannot write {args.out.name}: use a .nii or .nii.gz file name")
    check_not_an_input(args.out, [args.a, args.b])
    win_a, win_b = parse_window(args.window_a) if args.window_a else None, \
        parse_window(args.window_b) if args.window_b else None
    vol_a, vol_b = read_volume(args.a), read_volume(args.b)
    check_same_grid(vol_a, vol_b)
    fuser = Fuser(load_model(args.weights, args.task), args.device)
    with tqdm(total=vol_a.data.shape[0], desc="fusing", unit="slice", disable=None, leave=False) as bar:
        fused, info = fuse_volumes(fuser, vol_a, vol_b, win_a, win_b,
                                   progress=lambda d, t: bar.update(d - bar.n))
    write_nifti(args.out, fused, args.dtype)
    desc = [f"{v.name} ({v.modality or 'modality unknown'}, window {c:g}/{w:g})"
            for v, (c, w) in ((vol_a, info["window_a"]), (vol_b, info["window_b"]))]
    print(f"fused {desc[0]} + {desc[1]} -> {args.out} ({args.dtype}, [0, 1]); research use, not diagnosis",
          file=sys.stdout)
    return 0
