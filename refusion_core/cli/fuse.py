"""``refusion fuse``: fuse a registered pair, or a stack of N > 2 images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from refusion_core.cli.common import Outputs, bar_to, check_output_file, check_output_folder, model_args
from refusion_core.errors import InputError

if TYPE_CHECKING:
    import numpy as np


def register(sub) -> None:
    f = sub.add_parser("fuse", help="fuse two or more registered images",
                       description="Fuse a registered pair, or a stack of N > 2 images (fused pairwise in a "
                                   "balanced tree, neighbours first: give a focus stack in focus order)")
    f.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="two or more images of one size")
    f.add_argument("-o", "--out", type=Path, required=True, help="output image (.png, .tif, .jpg)")
    model_args(f)
    f.add_argument("--maps", type=Path, metavar="DIR", help="also write wa, wb, va, vb (16-bit PNG + .npy); "
                   "pairs only")
    f.add_argument("--stretch", action="store_true", help="min-max stretch the fused luminance")
    f.add_argument("--bit-depth", type=int, choices=(8, 16), help="output bit depth (default: 16 if any input is)")
    f.add_argument("--stretch-input", default="auto", metavar="MODE[,MODE...]",
                   help="auto (default: stretch 16-bit grey images that use at most a quarter of 0..65535, "
                        "like raw thermal), none or percentile; one mode, or one per image")
    f.add_argument("--percentiles", default="0.5,99.5", metavar="LOW,HIGH",
                   help="percentiles of the valid pixels mapped to 0 and 1 by the input stretch")
    f.add_argument("--strategy", choices=("tree", "chain"), default="tree", help="order of the pairwise "
                   "fusions for N > 2 (default: tree)")
    f.add_argument("--no-exif", action="store_true", help="do not copy the first input's EXIF to the output")
    f.set_defaults(func=run)


def run(args) -> int:
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
    bundle = load_model(args.weights, args.task)
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
    if not 0 <= lo < hi <= 100:
        raise InputError(f"--percentiles {percentiles}: LOW must be below HIGH, both from 0 to 100 (e.g. 0.5,99.5)")
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
