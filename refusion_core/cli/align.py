"""``refusion align``: register images to a reference image."""

from __future__ import annotations

from pathlib import Path

from refusion_core.errors import InputError


def register(sub) -> None:
    al = sub.add_parser("align", help="register images to a reference image",
                        description="Register each MOVING image to REF and write it, resampled onto REF's "
                                    "pixel grid and named like its input, into DIR, with transforms.json "
                                    "(3x3 matrices mapping moving to reference pixel coordinates)")
    al.add_argument("ref", type=Path, metavar="REF")
    al.add_argument("moving", nargs="+", type=Path, metavar="MOVING")
    al.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
    al.add_argument("--model", choices=("homography", "affine", "euclidean", "translation"), default="homography")
    al.add_argument("--method", choices=("features", "ecc", "ecc-edges"),
                    help="features (default; photographs), ecc (intensities), ecc-edges (infrared-visible and "
                         "other cross-modal pairs); with --points, ecc/ecc-edges refine the points' estimate")
    al.add_argument("--points", type=Path, metavar="FILE.json", help='control points: {"ref": [[x, y], ...], '
                    '"moving": [[x, y], ...]} (or such objects keyed by moving file name); at least 3 pairs '
                    "for affine, 4 for homography")
    al.add_argument("--crop", action="store_true", help="crop all outputs (and write the reference) to the "
                    "largest rectangle every image covers")
    al.add_argument("--no-exif", action="store_true", help="do not keep the inputs' EXIF")
    al.set_defaults(func=run)


def run(args) -> int:
    """Register each MOVING image to REF; write them (named like the inputs) and transforms.json into DIR.

    Everything is estimated before anything is written, so a failure leaves DIR as it was. With --crop
    the reference, cropped to the common area, is written too (so the folder holds a matching set).
    """
    from refusion_core.io.images import read_image_exif, write_image
    from refusion_core.registration.align import align_stack
    from refusion_core.registration.report import write_transforms_report

    outputs = _output_paths(args.ref, args.moving, args.out, args.crop)
    ref, ref_exif = read_image_exif(args.ref)
    loaded = [read_image_exif(p) for p in args.moving]
    frames = [img for img, _ in loaded]
    transforms = _transforms(args, ref, frames)
    names = [args.ref.name] + [p.name for p in args.moving]
    res = align_stack(ref, frames, args.model, crop=args.crop, transforms=transforms, names=names)
    exifs = [None if args.no_exif else e for _, e in loaded]
    from refusion_core.cli.common import Outputs
    from refusion_core.registration.report import TRANSFORMS_FILE

    with Outputs() as written:  # every image and the report, or nothing
        written.folder(args.out)
        for p in [*outputs, args.out / TRANSFORMS_FILE]:
            written.add(p)
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
    from refusion_core.io.images import check_not_an_input

    from refusion_core.cli.common import check_output_folder

    check_output_folder(out)
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
    from tqdm import tqdm

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
